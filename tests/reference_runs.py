"""Seeded runs whose final weights were recorded before the run-framework redesign (issue 11).

``tests/test_reference_weights.py`` trains each of them with the current code and asserts that
every weight tensor is bit-identical to the recorded one. A tensor is identified by the sha256
of its raw bytes (dtype and shape included), so the check survives renamed or reordered
state-dict keys but not a single changed bit. Recorded on one CPU thread.

The last bits of float32 kernels differ between CPU families (MKL and oneDNN choose other code on
an AMD EPYC with AVX-512 BF16 than on the machine of the first recording), so the digests are kept
per machine: ``tests/data/reference_digests*.json``, one file per machine family, each recorded
with the same code. A run must equal the recording of one of them. A new CPU family that
matches none fails the test. Record it (``python tests/reference_runs.py LABEL``, which writes
``reference_digests.LABEL.json`` and ``legacy_v1/sample_digests.LABEL.json``) only after the
unchanged code has passed on a machine that matches an existing recording.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

DATA = Path(__file__).parent / "data"
LEGACY = DATA / "legacy_v1"
TINY_MLP = {"generator": {"name": "mlp", "hidden": 16, "layers": 2},
            "discriminator": {"name": "mlp", "hidden": 16, "layers": 2}}
DIGITS = {"data": {"name": "digits", "size": 16}, "prior": {"name": "gaussian", "dim": 16}}
TRAIN = {"batch_size": 32, "log_every": 5, "checkpoint_every": 10, "sample_every": 0}


def run(steps: int, **sections) -> dict:
    config = {"seed": 1, "device": "cpu", **sections}
    config["train"] = {**TRAIN, "steps": steps, **sections.get("train", {})}
    return config


REFERENCE_RUNS = {
    "ring8-ns-ema": run(20, **TINY_MLP, train={"ema_decay": 0.9}),
    "ring8-wgan-gp-ncritic": run(10, **TINY_MLP, loss={"name": "wgan"}, penalty={"name": "wgan_gp", "weight": 0.1},
                                 scheme={"name": "alternating", "n_critic": 3}),
    "grid25-rasgan-dragan": run(10, **TINY_MLP, data={"name": "grid25"}, loss={"name": "rasgan"},
                                penalty={"name": "dragan"}),
    "ring8-deligan": run(10, **TINY_MLP, prior={"name": "deligan", "dim": 2, "components": 8}),
    "ring8-egan-2parents": run(6, **TINY_MLP, scheme={"name": "egan", "parents": 2, "gamma": 0.5}),
    "ring8-tsgan-pair": run(10, generator={"name": "mlp", "hidden": 16, "layers": 2}, loss={"name": "tsgan"},
                            discriminator={"name": "pair", "hidden": 16,
                                           "encoder": {"name": "mlp", "hidden": 16, "layers": 2, "norm": "spectral"}},
                            scheme={"name": "alternating", "g_steps": 2}),
    "digits-dcgan-bn-ema": run(6, **DIGITS, generator={"name": "dcgan", "ngf": 8},
                               discriminator={"name": "dcgan", "ndf": 8}, train={"ema_decay": 0.99}),
    "digits-sndcgan-hinge-r1": run(4, **DIGITS, generator={"name": "sndcgan"},
                                   discriminator={"name": "sndcgan", "norm": "spectral"},
                                   loss={"name": "hinge"}, penalty={"name": "r1"}, train={"batch_size": 8}),
    "digits-cdcgan-acgan": run(6, **DIGITS, generator={"name": "cdcgan", "ngf": 8},
                               discriminator={"name": "cdcgan", "ndf": 8, "conditioning": "acgan"}),
    "digits-cdcgan-projection-layer": run(6, **DIGITS, generator={"name": "cdcgan", "ngf": 8},
                                          discriminator={"name": "cdcgan", "ndf": 8, "norm": "layer"},
                                          loss={"name": "least_squares"}),
    "digits-stylegan": run(4, **DIGITS, generator={"name": "stylegan", "w_dim": 16, "mapping_layers": 2,
                                                   "fmap_base": 128, "fmap_max": 16},
                           discriminator={"name": "dcgan", "ndf": 8, "norm": "spectral"}, train={"batch_size": 8}),
    "digits-resnet-cifar": run(3, **DIGITS, generator={"name": "resnet_cifar", "ch": 16},
                               discriminator={"name": "resnet_cifar", "ch": 16}, train={"batch_size": 8}),
}
# CycleGAN, in the pre-redesign translation config format (converted by the config reader).
REFERENCE_TRANSLATION = {
    "seed": 1, "device": "cpu", "data_a": {"name": "digits", "size": 16},
    "data_b": {"name": "digits", "size": 16, "invert": True},
    "generator": {"name": "resnet", "ngf": 4, "n_blocks": 1, "n_down": 2},
    "discriminator": {"name": "patchgan", "ndf": 4, "n_layers": 2}, "pool_size": 3,
    "train": {"steps": 6, "batch_size": 4, "log_every": 3, "checkpoint_every": 3, "sample_every": 0},
}


def tensor_digest(t: torch.Tensor) -> str:
    t = t.detach().cpu().contiguous()
    head = f"{t.dtype}{tuple(t.shape)}".encode()
    return hashlib.sha256(head + t.reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest()[:20]


def state_digests(*states: dict) -> list[str]:
    """Sorted digests of every tensor of the given state dicts (None entries skipped)."""
    return sorted(tensor_digest(v) for s in states if s is not None for v in s.values()
                  if isinstance(v, torch.Tensor))


def recorded_variants(folder: Path, stem: str) -> list[dict]:
    """The recordings ``folder/stem*.json``, one per machine family, the first recording (``stem.json``) first."""
    paths = sorted(folder.glob(f"{stem}*.json"), key=lambda p: (p.name != f"{stem}.json", p.name))
    return [json.loads(p.read_text()) for p in paths]


def matches_a_recording(got: dict, recordings: list[dict]) -> bool:
    """Whether every entry of ``got`` (key -> digest(s), not empty) is recorded as such in one of ``recordings``."""
    return bool(got) and any(all(r.get(key) == digests for key, digests in got.items()) for r in recordings)


def run_digests(name: str) -> dict:
    """Key -> digests of the weights of reference run ``name`` (or "cyclegan") trained with the current code."""
    from ganscape.training import Trainer

    if name == "cyclegan":
        models = Trainer(REFERENCE_TRANSLATION).fit().parts.modules()
        return {key: state_digests(models[key].state_dict()) for key in ("G_ab", "G_ba", "D_a", "D_b")}
    result = Trainer(REFERENCE_RUNS[name]).fit()
    models, ema = result.parts.modules(), result.averaged.get("G")
    return {"G": state_digests(models["G"].state_dict()), "D": state_digests(models["D"].state_dict()),
            "prior": state_digests(models["prior"].state_dict()),
            "G_ema": state_digests(ema.state_dict() if ema is not None else None)}


def legacy_sample_digests(name: str) -> dict[str, str]:
    """Digests of what the checked-in first-format run ``name`` produces: 16 samples (seed 0) from the EMA and the raw
    generator ("ring8", "cdcgan"), or the translation of 3 fixed 8x8 images ("cyclegan")."""
    from ganscape.loading import load_sampler

    if name == "cyclegan":
        sampler = load_sampler(LEGACY / name, device="cpu")
        torch.manual_seed(0)
        return {"cyclegan_a2b": tensor_digest(sampler.translate(torch.rand(3, 1, 8, 8) * 2 - 1))}
    return {name: tensor_digest(load_sampler(LEGACY / name, device="cpu").sample(16, seed=0)),
            f"{name}_raw": tensor_digest(load_sampler(LEGACY / name, ema=False, device="cpu").sample(16, seed=0))}


def record(label: str) -> None:
    """Write this machine's recordings (see the module docstring for when)."""
    torch.set_num_threads(1)
    names = recorded_variants(DATA, "reference_digests")[0]
    write_json(DATA / f"reference_digests.{label}.json", {name: run_digests(name) for name in names})
    samples = {k: v for name in ("ring8", "cdcgan", "cyclegan") for k, v in legacy_sample_digests(name).items()}
    write_json(LEGACY / f"sample_digests.{label}.json", samples)


def write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].replace("-", "").isalnum():
        sys.exit("usage: python tests/reference_runs.py LABEL  (LABEL: letters, digits and '-', e.g. amd-epyc-avx512-bf16)")
    record(sys.argv[1])
