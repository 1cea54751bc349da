"""Datasets: shapes and ranges, MNIST from IDX with checksums (and a clear offline failure),
npz and image folders, and the resumable batch sampler."""
from __future__ import annotations

import gzip
import logging
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ganscape.data import BatchStream, EpochSampler, build_dataset
from ganscape.data import mnist as mnist_module
from ganscape.registry import ConfigError


def test_toy_mixtures_expose_their_centres_and_std():
    ring = build_dataset({"name": "ring8", "n": 4000})
    centers = ring.info["centers"]
    assert centers.shape == (8, 2) and torch.allclose(centers.norm(dim=1), torch.ones(8))
    assert ring.info["std"] == 0.01
    dist = torch.cdist(ring.x, centers).min(dim=1).values
    assert (dist < 5 * 0.01).float().mean() > 0.999  # every point comes from some mode
    grid = build_dataset({"name": "grid25", "n": 1000})
    assert grid.info["centers"].shape == (25, 2)
    assert sorted(set(grid.info["centers"][:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]


def test_digits_scaled_to_size_in_unit_range():
    ds = build_dataset({"name": "digits", "size": 32})
    assert len(ds) == 1797 and ds.shape == (1, 32, 32) and ds.num_classes == 10
    assert ds.x.min() >= -1 and ds.x.max() <= 1 and ds.x.max() > 0.9
    inverted = build_dataset({"name": "digits", "size": 16, "invert": True})
    plain = build_dataset({"name": "digits", "size": 16})
    assert torch.allclose(inverted.x, -plain.x, atol=1e-6)


def test_mnist_test_split_from_idx(mnist_dir):
    ds = build_dataset({"name": "mnist", "root": str(mnist_dir), "split": "test", "size": 28})
    assert len(ds) == 10_000 and ds.shape == (1, 28, 28)
    assert torch.bincount(ds.y).tolist()[:3] == [980, 1135, 1032]  # official class counts
    small = build_dataset({"name": "mnist", "root": str(mnist_dir), "split": "test", "size": 32, "per_class": 50})
    assert len(small) == 500 and torch.bincount(small.y).tolist() == [50] * 10
    with pytest.raises(ConfigError, match="data.limit: 100 with data.per_class: 50"):  # kept classes 0 and 1 alone
        build_dataset({"name": "mnist", "root": str(mnist_dir), "split": "test", "per_class": 50, "limit": 100})


def test_mnist_missing_files_error_names_the_folder(tmp_path):
    with pytest.raises(ConfigError, match="data.root.*not found"):
        build_dataset({"name": "mnist", "root": str(tmp_path), "split": "test"})


def test_mnist_download_fails_clearly_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_module, "MIRRORS", ("http://127.0.0.1:9/",))
    with pytest.raises(ConfigError, match="could not download.*offline"):
        build_dataset({"name": "mnist", "root": str(tmp_path), "split": "test", "download": True})


def test_mnist_download_verifies_checksums(tmp_path, monkeypatch, mnist_dir):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(mnist_dir / name, mirror / name)
    monkeypatch.setattr(mnist_module, "MIRRORS", (mirror.as_uri() + "/",))
    ds = build_dataset({"name": "mnist", "root": str(tmp_path / "dl"), "split": "test", "download": True, "limit": 10})
    assert len(ds) == 10 and (tmp_path / "dl" / "t10k-labels-idx1-ubyte.gz").exists()
    # a corrupted mirror copy is rejected by its checksum
    with gzip.open(mirror / "t10k-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(b"\x00\x00\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(ConfigError, match="checksum"):
        build_dataset({"name": "mnist", "root": str(tmp_path / "dl2"), "split": "test", "download": True})


def test_uncompressed_mnist_files_are_checked_and_bad_ones_are_one_line(tmp_path, mnist_dir):
    names = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    raw = {name: gzip.decompress((mnist_dir / f"{name}.gz").read_bytes()) for name in names}
    for name in names:
        (tmp_path / name).write_bytes(raw[name])
    config = {"name": "mnist", "root": str(tmp_path), "split": "test"}
    assert len(build_dataset(config)) == 10_000
    (tmp_path / names[0]).write_bytes(raw[names[0]][:-16])  # truncated
    with pytest.raises(ConfigError, match=r"^data.root: .*t10k-images-idx3-ubyte is not a readable MNIST IDX file"):
        build_dataset(config)
    (tmp_path / names[0]).write_bytes(raw[names[0]])
    labels = raw[names[1]]
    (tmp_path / names[1]).write_bytes(labels[:4] + (5_000).to_bytes(4, "big") + labels[8:8 + 5_000])  # half
    with pytest.raises(ConfigError, match=r"shape \(5000,\); the official file's is \(10000,\)"):
        build_dataset(config)
    for bad, message in (({"size": 0}, "data.size: must be >= 1"), ({"limit": -5}, "data.limit: must be >= 0")):
        with pytest.raises(ConfigError, match=message):
            build_dataset({**config, **bad})


def test_npz_images_and_vectors(tmp_path):
    images = (np.random.default_rng(0).random((20, 8, 8, 3)) * 255).astype(np.uint8)
    np.savez(tmp_path / "img.npz", x=images, y=np.arange(20) % 4)
    ds = build_dataset({"name": "npz", "path": str(tmp_path / "img.npz"), "size": 16})
    assert ds.shape == (3, 16, 16) and ds.num_classes == 4 and -1 <= ds.x.min() and ds.x.max() <= 1
    np.savez(tmp_path / "vec.npz", x=np.random.default_rng(0).normal(size=(50, 2)))
    assert build_dataset({"name": "npz", "path": str(tmp_path / "vec.npz")}).shape == (2,)
    with pytest.raises(ConfigError, match="data.key.*'images'.*x, y"):
        build_dataset({"name": "npz", "path": str(tmp_path / "img.npz"), "key": "images"})


def test_image_folder_in_memory_and_streamed(tmp_path):
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(np.full((10, 12, 3), 40 * i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    cached = build_dataset({"name": "image_folder", "path": str(tmp_path), "size": 8, "labels": True})
    streamed = build_dataset({"name": "image_folder", "path": str(tmp_path), "size": 8, "labels": True,
                              "in_memory": False})
    assert cached.shape == streamed.shape == (3, 8, 8) and cached.num_classes == 2
    idx = torch.tensor([4, 0, 2])
    x1, y1 = cached.get(idx)
    x2, y2 = streamed.get(idx)
    assert torch.equal(x1, x2) and y1.tolist() == y2.tolist() == [1, 0, 0]


@pytest.mark.parametrize("in_memory", [True, False])
def test_image_folder_leaves_out_macos_metadata_as_data_prepare_folder_does(tmp_path, in_memory):
    """A folder unzipped on a Mac: ``__MACOSX/cats/._0.png`` made classes of their own (4, labels shifted) in memory,
    and streamed, training stopped at the first batch that drew one."""
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        (tmp_path / "__MACOSX" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((10, 12, 3), 40 * i, np.uint8)).save(tmp_path / cls / f"{i}.png")
            (tmp_path / "__MACOSX" / cls / f"._{i}.png").write_bytes(b"\0\5\26\7 AppleDouble")
            (tmp_path / cls / f"._{i}.png").write_bytes(b"\0\5\26\7 AppleDouble")
    data = build_dataset({"name": "image_folder", "path": str(tmp_path), "size": 8, "labels": True,
                          "in_memory": in_memory})
    assert len(data) == 6 and data.num_classes == 2
    assert data.get(torch.arange(6))[1].tolist() == [0, 0, 0, 1, 1, 1]


def test_sampler_batches_depend_only_on_seed_and_index():
    a, b = EpochSampler(100, 16, seed=3), EpochSampler(100, 16, seed=3)
    first = [a.indices(k) for k in range(20)]
    assert torch.equal(b.indices(13), first[13])  # random access equals sequential
    epoch0 = torch.cat(first[:6])
    assert len(set(epoch0.tolist())) == 96  # no repeats within an epoch (last 4 dropped)
    assert not torch.equal(first[0], EpochSampler(100, 16, seed=4).indices(0))


def test_batch_stream_resumes_at_its_position():
    ds = build_dataset({"name": "ring8", "n": 500})
    full = BatchStream(ds, 64, seed=1)
    batches = [full.next()[0] for _ in range(12)]
    resumed = BatchStream(ds, 64, seed=1, start=7)
    assert torch.equal(resumed.next()[0], batches[7])


def test_a_prefetching_stream_yields_the_same_batches_also_after_a_jump():
    """Prefetch (used when data stays on the host of a GPU run) reads ahead on a thread; batches are unchanged, also
    when the position is set (a resume) while a batch is in flight."""
    data = build_dataset({"name": "ring8"})
    plain, ahead = BatchStream(data, 32, seed=2), BatchStream(data, 32, seed=2, prefetch=True)
    for _ in range(5):
        assert torch.equal(plain.next()[0], ahead.next()[0])
    plain.position = ahead.position = 40
    for _ in range(3):
        assert torch.equal(plain.next()[0], ahead.next()[0])
    assert ahead.position == 43


def test_npz_image_values_are_read_by_their_type_and_range():
    """Floats in [-1, 1.02] were read as 0..255 (a garbage score with exit 0); the range is now told by dtype and
    values, and a float array that fits none of the ranges is refused unless value_range says which it is."""
    from ganscape.data.arrays import unit_range

    half = torch.full((1, 1, 2, 2), 0.5)
    assert torch.equal(unit_range(torch.full((1, 1, 2, 2), 255, dtype=torch.uint8), "auto"), torch.ones(1, 1, 2, 2))
    assert torch.equal(unit_range(torch.ones(1, 1, 2, 2, dtype=torch.bool), "auto"), torch.ones(1, 1, 2, 2))
    binary = torch.tensor([[[[0, 1]]]], dtype=torch.uint8)  # binarised digits: 0/1, not 0..255
    assert torch.equal(unit_range(binary, "auto"), torch.tensor([[[[0.0, 1.0]]]]))
    diverged = unit_range(torch.tensor([[[[-1.0, float("nan")]]]]), "auto")  # stays NaN: the metrics score NaN
    assert diverged[0, 0, 0, 0] == 0 and torch.isnan(diverged[0, 0, 0, 1])
    assert torch.equal(unit_range(half, "auto"), half)                                # [0, 1]
    assert torch.equal(unit_range(torch.tensor([[[[-1.0, 0.0]]]]), "auto"), torch.tensor([[[[0.0, 0.5]]]]))
    assert torch.equal(unit_range(torch.tensor([[[[0.0, 127.5]]]]), "auto"), torch.tensor([[[[0.0, 0.5]]]]))
    over = torch.tensor([[[[-1.0, 1.02]]]])
    with pytest.raises(ConfigError, match=r"float images in \[-1, 1.02\] fit none"):
        unit_range(over, "auto")
    assert torch.equal(unit_range(over, "signed"), torch.tensor([[[[0.0, 1.0]]]]))     # clamped when told
    with pytest.raises(ConfigError, match="integer images must be 0..255, got 0..1000"):
        unit_range(torch.tensor([[[[0, 1000]]]]), "auto")


@pytest.mark.parametrize("labels, message", [
    (np.r_[np.arange(63) % 5, -1], "label -1 is negative; labels must be class ids 0..K-1"),
    (np.r_[np.arange(63) % 3, 10**9], "label 1000000000 makes 1000000001 classes for 64 samples")])
def test_npz_labels_outside_class_ids_are_one_line(tmp_path, labels, message):
    """A negative label crashed the class embedding mid-step (IndexError) after the run folder was made; one huge
    label allocated an embedding of 10**9 rows, reported as 'out of memory'."""
    path = tmp_path / "x.npz"
    np.savez(path, x=np.zeros((64, 8, 8), np.uint8), y=labels)
    with pytest.raises(ConfigError, match=message):
        build_dataset({"name": "npz", "path": str(path)})


def test_npz_labels_that_leave_a_class_empty_warn(tmp_path, caplog):
    path = tmp_path / "x.npz"
    np.savez(path, x=np.zeros((64, 8, 8), np.uint8), y=np.arange(64) % 3 + 1)
    with caplog.at_level(logging.WARNING):
        assert build_dataset({"name": "npz", "path": str(path)}).num_classes == 4
    assert "1 of the classes 0..3 have no sample (0); are the labels 1-based?" in caplog.text
