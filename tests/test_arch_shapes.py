"""Shapes of every architecture at every supported size (conditional and not), up-front size
validation, and parameter counts pinned against counts computed by hand from the reference
layer tables (compare_gan sndcgan.py, resnet_cifar.py, resnet5.py; the study itself states no
parameter counts)."""
from __future__ import annotations

import pytest
import torch

from ganscape.models import build_discriminator, build_generator, count_parameters
from ganscape.registry import ConfigError

Z = 16


def conv(c_in, c_out, k, bias=True):
    return c_in * c_out * k * k + (c_out if bias else 0)


def linear(n_in, n_out, bias=True):
    return n_in * n_out + (n_out if bias else 0)


def bn(c):
    return 2 * c


def check(g_section, d_section, shape, classes=0, batch=2):
    G = build_generator(g_section, shape, Z, classes)
    D = build_discriminator(d_section, shape, classes)
    z = torch.randn(batch, Z)
    y = torch.arange(batch) % max(classes, 1) if classes else None
    x = G(z, y if getattr(G, "num_classes", 0) else None)
    assert x.shape == (batch, *shape)
    assert torch.isfinite(x).all()
    scores = D(x, y)
    assert scores.shape == (batch,)
    return G, D


SMALL = {
    "sndcgan": ({"name": "sndcgan"}, {"name": "sndcgan"}),
    "resnet_cifar": ({"name": "resnet_cifar", "ch": 8}, {"name": "resnet_cifar", "ch": 8}),
    "resnet19": ({"name": "resnet19", "ch": 2}, {"name": "resnet19", "ch": 2}),
    "cdcgan": ({"name": "cdcgan", "ngf": 8, "conditional": False}, {"name": "cdcgan", "ndf": 8, "conditioning": "none"}),
}
SIZES = {"sndcgan": [8, 16, 28, 32, 48], "resnet_cifar": [8, 16, 32, 64, 128], "resnet19": [8, 16, 32, 64, 128],
         "cdcgan": [8, 14, 16, 28, 32]}


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_shapes_every_size_unconditional_and_conditional(arch):
    g, d = SMALL[arch]
    for size in SIZES[arch]:
        for channels in (1, 3):
            check(g, d, (channels, size, size), batch=1 if size >= 64 else 2)
        cond_g = {**g, "conditional": True}
        for mode in ("projection", "acgan"):
            G, D = check(cond_g, {**d, "conditioning": mode}, (1, size, size), classes=10, batch=2)
            assert G.num_classes == 10
        assert hasattr(D, "forward_aux")
        scores, logits = D.forward_aux(G(torch.randn(2, Z), torch.tensor([1, 2])), None)
        assert scores.shape == (2,) and logits.shape == (2, 10)


@pytest.mark.parametrize("arch,bad", [("resnet_cifar", 28), ("resnet19", 256), ("resnet19", 4), ("sndcgan", 6),
                                      ("stylegan", 8), ("stylegan", 128), ("cdcgan", 20)])
def test_unsupported_sizes_are_config_errors_listing_choices(arch, bad):
    with pytest.raises(ConfigError) as err:
        build_generator({"name": arch}, (1, bad, bad), Z, 0)
    assert str(bad) in str(err.value) and "generator" in str(err.value)


def test_conditioning_on_unlabelled_data_is_config_error():
    with pytest.raises(ConfigError, match="labelled"):
        build_generator({"name": "sndcgan", "conditional": True}, (1, 16, 16), Z, 0)
    with pytest.raises(ConfigError, match="conditioning"):
        build_discriminator({"name": "resnet_cifar", "conditioning": "projection"}, (1, 16, 16), 0)


def test_sndcgan_parameter_count_matches_reference_table():
    # compare_gan sndcgan.py at 32x32x3, z 128: linear -> 4x4x512, deconv4 512/256/128/64 + BN, deconv3 -> 3.
    g = (linear(128, 4 * 4 * 512) + bn(4 * 4 * 512) + conv(512, 256, 4) + bn(256) + conv(256, 128, 4) + bn(128)
         + conv(128, 64, 4) + bn(64) + conv(64, 3, 3))
    d_plan = [(3, 64, 3), (64, 128, 4), (128, 128, 3), (128, 256, 4), (256, 256, 3), (256, 512, 4), (512, 512, 3)]
    d = sum(conv(a, b, k) for a, b, k in d_plan) + linear(512 * 4 * 4, 1)
    assert count_parameters(build_generator({"name": "sndcgan"}, (3, 32, 32), 128)) == g == 3_828_739
    assert count_parameters(build_discriminator({"name": "sndcgan"}, (3, 32, 32))) == d == 5_860_865


def test_unrolled_stacked_mnist_pair_matches_the_pacgan_code_layer_table():
    """PacGAN's Table 3 networks at 28 px, z 256: G linear -> 4x4x64 + BN per channel, 3x3 deconvs 64->32->16->8 (+ BN),
    3x3 conv -> 3; D 3x3 stride-2 convs 3->2->4->8 (+ BN), linear 8*4*4 -> 1 ("D is 1/4 the size of G")."""
    G = build_generator({"name": "sndcgan", "ch": 8, "kernel": 3, "first_norm": "channel"}, (3, 28, 28), 256)
    g = (linear(256, 4 * 4 * 64) + bn(64) + conv(64, 32, 3) + bn(32) + conv(32, 16, 3) + bn(16)
         + conv(16, 8, 3) + bn(8) + conv(8, 3, 3))
    D = build_discriminator({"name": "unrolled", "ndf": 2}, (3, 28, 28))
    d = conv(3, 2, 3) + bn(2) + conv(2, 4, 3) + bn(4) + conv(4, 8, 3) + bn(8) + linear(8 * 4 * 4, 1)
    assert count_parameters(G) == g == 287_875 and count_parameters(D) == d == 585
    per_feature = build_generator({"name": "sndcgan", "ch": 8, "kernel": 3}, (3, 28, 28), 256)  # compare_gan's first BN
    assert count_parameters(per_feature) == g - bn(64) + bn(4 * 4 * 64)
    sizes = []
    for deconv in G.deconvs:
        deconv.register_forward_hook(lambda module, args, out: sizes.append(out.shape[-1]))
    x = G(torch.randn(2, 256))
    assert x.shape == (2, 3, 28, 28) and sizes == [8, 14, 28]  # 4 -> 8 is cropped to 7 ("SAME"), then 14, 28
    features = D.net[:-2](x)
    assert features.shape == (2, 8, 4, 4) and D(x).shape == (2,)
    for size in (8, 16, 32):  # any square size >= 8
        check({"name": "sndcgan", "ch": 2, "kernel": 3, "first_norm": "channel"}, {"name": "unrolled"}, (1, size, size))


@pytest.mark.parametrize("first_norm, stats_over", [("channel", (0, 2, 3)), ("feature", (0,))])
def test_sndcgan_first_norm_normalises_per_channel_or_per_feature(first_norm, stats_over):
    """In training mode G's first BN output has zero mean and unit variance over the batch and the 4x4 positions
    per channel (``channel``), or over the batch per feature of the linear layer (``feature``)."""
    torch.manual_seed(0)
    G = build_generator({"name": "sndcgan", "ch": 8, "kernel": 3, "first_norm": first_norm}, (3, 28, 28), 16)
    torch.nn.init.ones_(G.norms[0].norm.weight)
    outputs = []
    G.norms[0].register_forward_hook(lambda module, args, out: outputs.append(out))
    G(torch.randn(32, 16) * 3 + 1)
    h = outputs[0] if first_norm == "channel" else outputs[0].reshape(32, -1)
    mean, var = h.mean(stats_over), h.var(stats_over, unbiased=False)
    assert h.shape[1] == (64 if first_norm == "channel" else 64 * 4 * 4)
    assert torch.allclose(mean, torch.zeros_like(mean), atol=1e-5)
    assert torch.allclose(var, torch.ones_like(var), atol=1e-3)
    if first_norm == "channel":  # per channel, not per feature: single positions keep a batch mean away from 0
        assert h.reshape(32, -1).mean(0).abs().max() > 0.1


def resnet_block(c_in, c_out, with_bn):
    """compare_gan ResNetBlock: 3x3 shortcut conv + two 3x3 convs (+ two BNs in G)."""
    return conv(c_in, c_out, 3) * 2 + conv(c_out, c_out, 3) + ((bn(c_in) + bn(c_out)) if with_bn else 0)


def test_resnet_cifar_parameter_count_matches_reference_table():
    g = linear(128, 4 * 4 * 256) + 3 * resnet_block(256, 256, True) + bn(256) + conv(256, 3, 3)
    d = resnet_block(3, 128, False) + 3 * resnet_block(128, 128, False) + linear(128, 1)
    assert count_parameters(build_generator({"name": "resnet_cifar"}, (3, 32, 32), 128)) == g
    assert count_parameters(build_discriminator({"name": "resnet_cifar"}, (3, 32, 32))) == d


def test_resnet19_parameter_count_matches_reference_table():
    ch, gm, dm = 64, (8, 8, 4, 4, 2, 1), (1, 2, 4, 4, 8, 8)
    g = (linear(128, 4 * 4 * ch * gm[0]) + sum(resnet_block(ch * a, ch * b, True) for a, b in zip(gm, gm[1:]))
         + bn(ch) + conv(ch, 3, 3))
    d = resnet_block(3, ch, False) + sum(resnet_block(ch * a, ch * b, False) for a, b in zip(dm, dm[1:])) + linear(8 * ch, 1)
    G = build_generator({"name": "resnet19"}, (3, 128, 128), 128)
    D = build_discriminator({"name": "resnet19"}, (3, 128, 128))
    assert count_parameters(G) == g and count_parameters(D) == d
    x = G(torch.randn(1, 128))
    assert x.shape == (1, 3, 128, 128) and D(x).shape == (1,)


def test_conditional_dcgan_matches_dcgan_capacity():
    shape = (1, 16, 16)
    plain_g = count_parameters(build_generator({"name": "dcgan", "ngf": 8}, shape, Z))
    plain_d = count_parameters(build_discriminator({"name": "dcgan", "ndf": 8}, shape))
    assert count_parameters(build_generator({"name": "cdcgan", "ngf": 8, "conditional": False}, shape, Z, 10)) == plain_g
    assert count_parameters(build_discriminator({"name": "cdcgan", "ndf": 8, "conditioning": "none"}, shape, 10)) == plain_d
    # conditional BN: the BN affine pairs (2 per channel) become 2 embeddings of 10 rows
    widths = 16 + 8
    cbn_only = count_parameters(build_generator({"name": "cdcgan", "ngf": 8, "label_input": False}, shape, Z, 10))
    assert cbn_only == plain_g - 2 * widths + 2 * 10 * widths
    # label_input (default): the first 4x4 transposed conv (16 maps) also reads the 10-way one-hot label
    cond = count_parameters(build_generator({"name": "cdcgan", "ngf": 8}, shape, Z, 10))
    assert cond == cbn_only + 10 * 16 * 4 * 4


def test_components_verbose_prints_parameter_counts(capsys):
    from ganscape.cli import main

    assert main(["components", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "parameters: 3,828,739 (defaults, data 3x32x32, z_dim 128)" in out  # sndcgan G
    assert "parameters: 13,786,115 (defaults, data 3x128x128, z_dim 128)" in out  # resnet19 G


def test_dcgan_tf_pair_matches_the_pacgan_table2_code_layer_table():
    """PacGAN's Table 2 networks (the DCGAN-TensorFlow code) at 28 px, z 100: G linear -> 2x2x512 + BN, 5x5 deconvs
    512->256->128->64 (+ BN) -> 3 at 4, 7, 14, 28 px; D 5x5 stride-2 convs 3->64->128->256->512 at 14, 7, 4, 2 px
    (+ BN after the first), linear 512*2*2 -> 1."""
    G = build_generator({"name": "dcgan_tf"}, (3, 28, 28), 100)
    g = (linear(100, 2 * 2 * 512) + bn(512) + conv(512, 256, 5) + bn(256) + conv(256, 128, 5) + bn(128)
         + conv(128, 64, 5) + bn(64) + conv(64, 3, 5))
    D = build_discriminator({"name": "dcgan_tf"}, (3, 28, 28))
    d = (conv(3, 64, 5) + conv(64, 128, 5) + bn(128) + conv(128, 256, 5) + bn(256) + conv(256, 512, 5) + bn(512)
         + linear(512 * 2 * 2, 1))
    assert count_parameters(G) == g and count_parameters(D) == d
    g_sizes, d_sizes = [], []
    for deconv in G.deconvs:
        deconv.register_forward_hook(lambda module, args, out: g_sizes.append(out.shape[-1]))
    for layer in D.net:
        if isinstance(layer, torch.nn.Conv2d):
            layer.register_forward_hook(lambda module, args, out: d_sizes.append(out.shape[-1]))
    x = G(torch.randn(2, 100))
    assert x.shape == (2, 3, 28, 28) and g_sizes == [4, 7, 14, 28] and D(x).shape == (2,)
    assert d_sizes == [14, 7, 4, 2]
    for size in (16, 32, 33, 64):  # any square size >= 16
        check({"name": "dcgan_tf", "ngf": 4}, {"name": "dcgan_tf", "ndf": 4}, (1, size, size))
    with pytest.raises(ConfigError, match="16"):
        build_discriminator({"name": "dcgan_tf"}, (1, 8, 8))


@pytest.mark.parametrize("size", [28, 14, 7, 4, 5])
def test_dcgan_tf_same_padding_is_tensorflows_and_the_deconv_its_adjoint(size):
    """A 'SAME' conv pads (total = max((out - 1) * 2 + 5 - in, 0)) // 2 rows before it, the odd one after: with a
    kernel that only has its centre tap, output i reads input 2i + 2 - before (28 px: 2i + 1). The transposed conv
    with the same weights is the conv's adjoint: <conv(x), y> = <x, deconv(y)>."""
    from ganscape.models.dcgan_tf import SameConv2d, SameConvTranspose2d

    out = -(-size // 2)
    before = max((out - 1) * 2 + 5 - size, 0) // 2
    conv = SameConv2d(1, 1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 2, 2] = 1.0
        conv.bias.zero_()
    x = torch.arange(size * size, dtype=torch.float32).reshape(1, 1, size, size)
    rows = [2 * i + 2 - before for i in range(out)]
    assert torch.equal(conv(x), x[:, :, rows][:, :, :, rows])
    torch.manual_seed(0)
    conv, deconv = SameConv2d(3, 4), SameConvTranspose2d(4, 3)
    with torch.no_grad():
        deconv.weight.copy_(conv.weight)
        conv.bias.zero_(), deconv.bias.zero_()
    x, y = torch.randn(2, 3, size, size, dtype=torch.float64), torch.randn(2, 4, out, out, dtype=torch.float64)
    conv, deconv = conv.double(), deconv.double()
    assert deconv(y, size).shape == x.shape
    assert torch.allclose((conv(x) * y).sum(), (x * deconv(y, size)).sum(), rtol=1e-12)


def test_dcgan_tf_unit_value_range_trains_in_the_codes_pixel_range():
    """``value_range: unit``: the PacGAN code's data is X / 255 with a tanh G. G's tanh output t is the [0, 1] image,
    2 t - 1 in ganscape's range; D scores the image mapped back to [0, 1]. Same weights, same scores as the signed
    pair on the code's [0, 1] input: D_unit(x) == D_signed((x + 1) / 2)."""
    shape = (3, 28, 28)
    torch.manual_seed(0)
    G_signed = build_generator({"name": "dcgan_tf", "ngf": 4}, shape, Z)
    G_unit = build_generator({"name": "dcgan_tf", "ngf": 4, "value_range": "unit"}, shape, Z)
    G_unit.load_state_dict(G_signed.state_dict())
    z = torch.rand(5, Z) * 2 - 1
    tanh_out = G_signed(z)
    assert torch.allclose(G_unit(z), tanh_out * 2 - 1, atol=1e-6)
    D_signed = build_discriminator({"name": "dcgan_tf", "ndf": 4}, shape)
    D_unit = build_discriminator({"name": "dcgan_tf", "ndf": 4, "value_range": "unit"}, shape)
    D_unit.load_state_dict(D_signed.state_dict())  # the same weights under the same names
    x = torch.rand(5, *shape) * 2 - 1
    assert torch.allclose(D_unit(x), D_signed((x + 1) / 2), atol=1e-6)
    with pytest.raises(ConfigError, match="signed"):
        build_generator({"name": "dcgan_tf", "value_range": "0-1"}, shape, Z)
