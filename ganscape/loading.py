"""The one way to open a run folder: checkpoint, config and kind, then a sampler for it.

Every command that reads a run (``sample``, ``eval``, ``interpolate``, ``style-mix``, ``translate``, studies) goes
through ``open_run`` and ``load_sampler``. A command that does not apply to a run's kind says so in one line
(``load_generator``, ``require_translation``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from ganscape.registry import ConfigError
from ganscape.runtime import resolve_device
from ganscape.sampling import GeneratorSampler, TranslationSampler
from ganscape.training.checkpoint import CheckpointError, list_checkpoints, newest_readable, read_checkpoint

Direction = Literal["a2b", "b2a"]


@dataclass
class LoadedRun:
    """A run folder opened at one checkpoint (``state`` in the version-2 checkpoint schema)."""

    run_dir: Path
    path: Path
    state: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        return self.state["config"]

    @property
    def kind(self) -> str:
        return self.state["kind"]

    @property
    def step(self) -> int:
        return self.state["step"]


def open_run(run_dir: str | Path, step: int | None = None, device: str | torch.device = "cpu") -> LoadedRun:
    """Open ``run_dir`` at checkpoint ``step`` (default: the newest readable one, skipping a
    corrupt newest checkpoint with a warning)."""
    from ganscape.training.run_folder import CONFIG_FILE, saved_config

    run_dir = Path(run_dir)
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints and not (run_dir / CONFIG_FILE).exists():
        raise ConfigError(f"{run_dir} is not a run folder (no config.yaml, no checkpoints); "
                          "train one with `ganscape train CONFIG --out RUN_DIR`")
    if not checkpoints:
        raise ConfigError(f"{run_dir} has no checkpoints yet (training has not reached its first checkpoint)")
    config = saved_config(run_dir)
    if step is None:
        found = newest_readable(run_dir, device, config)
        if found is None:
            raise CheckpointError(f"{run_dir}: none of its {len(checkpoints)} checkpoints is readable")
        return LoadedRun(run_dir, *found)
    if step not in checkpoints:
        raise ConfigError(f"--checkpoint: no checkpoint at step {step} in {run_dir}; "
                          f"available: {', '.join(map(str, checkpoints))}")
    return LoadedRun(run_dir, checkpoints[step], read_checkpoint(checkpoints[step], device, config))


def load_sampler(run_dir: str | Path, step: int | None = None, ema: bool = True, device: str = "auto",
                 direction: Direction | None = None, with_run: bool = False):
    """A sampler (``ganscape.sampling``) for a run of any kind; EMA weights when kept and ``ema``. Translation runs
    sample the ``direction`` translator (default a2b); other runs refuse a direction. With ``with_run`` the opened
    run is returned too: ``(sampler, LoadedRun)``."""
    dev = resolve_device(device, "--device")
    loaded = open_run(run_dir, step, dev)
    if loaded.kind != "translation" and direction is not None:
        raise ConfigError(f"--direction: {direction} applies to translation runs only; {run_dir} is a {loaded.kind} "
                          "run (leave --direction out)")
    sampler = (translation_sampler(loaded, direction or "a2b", ema, dev) if loaded.kind == "translation"
               else generator_sampler(loaded, ema, dev))
    return (sampler, loaded) if with_run else sampler


def averaged_state(loaded: LoadedRun, name: str, ema: bool) -> dict[str, Any]:
    """The EMA weights of module ``name`` when the run kept them and ``ema`` is true, else its weights."""
    averaged = loaded.state["callbacks"].get("ema", {})
    return averaged[name] if ema and name in averaged else loaded.state["models"][name]


def generator_sampler(loaded: LoadedRun, ema: bool, device: torch.device) -> GeneratorSampler:
    from ganscape.models import build_generator
    from ganscape.priors import build_prior

    config, meta = loaded.config, loaded.state["data_meta"]["data"]
    prior = build_prior(config["prior"]).to(device)
    prior.load_state_dict(averaged_state(loaded, "prior", ema))
    G = build_generator(config["generator"], tuple(meta["shape"]), prior.dim, meta["num_classes"]).to(device)
    G.load_state_dict(averaged_state(loaded, "G", ema))
    weights = "ema" if ema and "G" in loaded.state["callbacks"].get("ema", {}) else "raw"
    return GeneratorSampler(G.eval(), prior.eval(), config, loaded.step, meta, device, loaded.kind, weights=weights)


def translation_sampler(loaded: LoadedRun, direction: Direction, ema: bool, device: torch.device) -> TranslationSampler:
    from ganscape.translation.parts import build_translators

    if direction not in ("a2b", "b2a"):
        raise ConfigError(f"--direction: {direction!r} is not valid; choose a2b or b2a")
    config, meta = loaded.config, loaded.state["data_meta"]
    shape_a, shape_b = tuple(meta["data"]["shape"]), tuple(meta["data_b"]["shape"])
    g_ab, g_ba = build_translators(config, shape_a[0], shape_b[0], shape_a[1])
    forward = direction == "a2b"
    G, name, source, target = (g_ab, "G_ab", "data", "data_b") if forward else (g_ba, "G_ba", "data_b", "data")
    G.load_state_dict(averaged_state(loaded, name, ema))
    return TranslationSampler(G.to(device).eval(), config[source], config[target], config, loaded.step,
                              meta[target], shape_a if forward else shape_b, device, direction)


def require_translation(sampler, command: str) -> TranslationSampler:
    """The sampler if it translates between domains, else a ConfigError naming the run's kind."""
    if not isinstance(sampler, TranslationSampler):
        raise ConfigError(f"{command}: needs a translation run (kind: translation, e.g. the cyclegan-digits preset); "
                          f"this is a {sampler.kind} run")
    return sampler


def load_generator(run_dir: str | Path, step: int | None = None, ema: bool = True, device: str = "auto",
                   command: str = "this command") -> GeneratorSampler:
    """``load_sampler`` for commands that need a generator with a latent prior (other runs: a ConfigError)."""
    sampler = load_sampler(run_dir, step, ema, device)
    if not isinstance(sampler, GeneratorSampler):
        raise ConfigError(f"{command}: needs a generator with a latent prior; this is a {sampler.kind} run "
                          "(use `ganscape sample`, `eval` or `translate` on it)")
    return sampler
