"""A run folder: the trainer core plus the callbacks that write a run to disk, and resuming.

    RUN_DIR/config.yaml                    the resolved config (written once start-up succeeded)
    RUN_DIR/metrics.jsonl                  one JSON object per logged step
    RUN_DIR/results.jsonl                  evaluation records (``ganscape.results``)
    RUN_DIR/checkpoints/ckpt-NNNNNNNN.pt   the checkpoint schema of ``checkpoint.py``
    RUN_DIR/samples/step-NNNNNNNN.png      previews (image grids, or scatter plots of 2-D data)
    RUN_DIR/loss_curves.png, RUN_DIR/tb/   the loss plot, TensorBoard events (if installed)
    RUN_DIR/environment.jsonl              one line per start or resume: step, time, processes, machine, versions

Running ``train`` again on a folder resumes from its newest readable checkpoint and continues exactly as an
uninterrupted run would. Only the keys in ``RESUMABLE_CHANGES`` may differ from the folder's config then; a folder
without checkpoints takes any config."""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from ganscape.config import dump_yaml, forbidden_resume_changes, load_config, read_yaml, with_component_defaults
from ganscape.registry import ConfigError
from ganscape.results import ResultsWriter
from ganscape.training.callbacks import (Callback, Checkpointer, DivergenceError, EnvironmentLog, LossPlot,
                                         MetricsLog, Progress, ResultsLog, SampleWriter, TensorBoardLog)
from ganscape.training.checkpoint import list_checkpoints, newest_readable
from ganscape.training.trainer import FitResult, Trainer
from ganscape.utils.io import FolderBusy, atomic_write_text, check_writable, folder_lock, remove_stale_temps

log = logging.getLogger(__name__)
CONFIG_FILE = "config.yaml"


def saved_config(run_dir: str | Path) -> dict[str, Any] | None:
    """The run folder's config, resolved like any config: its config.yaml, else (deleted) the one its newest
    readable checkpoint carries; None when there is neither."""
    path = Path(run_dir) / CONFIG_FILE
    if path.exists():
        return load_config(read_yaml(path) or {})
    found = newest_readable(run_dir, warn=False)  # the resume that follows warns about the unreadable ones
    return load_config(found[1]["config"]) if found and found[1].get("config") else None


def resume_changes(old: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """The differences between a run's config and ``config`` that a resume may not make; an option written at its
    default is no difference."""
    return forbidden_resume_changes(with_component_defaults(old), with_component_defaults(config))


def check_resumable(config: dict[str, Any], run_dir: Path) -> None:
    """A folder that holds checkpoints may be resumed only with the same config, apart from the resumable keys."""
    old = saved_config(run_dir)
    if old is not None and list_checkpoints(run_dir) and (changed := resume_changes(old, config)):
        raise ConfigError(f"{run_dir} holds a run with a different config ({'; '.join(changed)}). Use a new --out "
                          "folder, or the same config to resume (only train.steps, the logging, checkpoint, sample "
                          "and eval settings, train.precision, channels_last, compile and check_ranks_every may "
                          "change; train.steps not with a non-constant schedule).")


def check_checkpoint_config(path: Path, checkpoint: dict[str, Any], config: dict[str, Any]) -> None:
    """The checkpoint about to be resumed must carry the same config (apart from the resumable keys) as the command:
    ``check_resumable`` compares the command with config.yaml, and a config.yaml edited by hand, or checkpoints
    copied from another run, gave a size-mismatch traceback from ``load_state_dict``, or worse, none."""
    if not checkpoint.get("config"):
        return
    changed = resume_changes(load_config(checkpoint["config"]), config)
    if changed:
        raise ConfigError(f"{path} was written by a run with a different config ({'; '.join(changed)}) than this "
                          "command's: config.yaml was edited, or the checkpoints come from another run. Resume with "
                          "the checkpoint's config, or move the checkpoints out to start over")


def folder_callbacks(run_dir: Path, config: dict[str, Any], show_progress: bool) -> list[Callback]:
    train = config["train"]
    callbacks = [MetricsLog(run_dir), TensorBoardLog(run_dir),
                 ResultsLog(ResultsWriter.for_run(run_dir), run_dir, train["checkpoint_every"]),
                 Checkpointer(run_dir, train["checkpoint_every"], train["keep_checkpoints"]),
                 SampleWriter(run_dir, train["sample_every"]), LossPlot(run_dir), EnvironmentLog(run_dir)]
    return callbacks + ([Progress()] if show_progress else [])


def train(config: str | dict[str, Any], run_dir: str | Path, show_progress: bool = True,
          stop_at: int | None = None, callbacks: list[Callback] = ()) -> FitResult:
    """Train (or resume) the run in ``run_dir`` with the folder's callbacks and any ``callbacks`` given.
    ``stop_at`` ends after that step, as an interruption would (used by tests). Returns the trained parts and
    the logged history."""
    from ganscape.distributed import barrier, init_from_env, is_main_process

    config = load_config(config)
    run_dir = Path(run_dir)
    init_from_env(cpu=str(config["device"]).startswith("cpu"))  # under torchrun: one rank of a data-parallel run
    main = is_main_process()
    if main:
        check_writable(run_dir / CONFIG_FILE)
        check_layout(run_dir)
    check_resumable(config, run_dir)
    trainer = Trainer(config, callbacks=[*(folder_callbacks(run_dir, config, show_progress) if main else []), *callbacks])
    with contextlib.ExitStack() as held:
        stop_every_rank_on(hold_folder(held, run_dir) if main else None, run_dir)
        for folder in (run_dir, run_dir / "checkpoints", run_dir / "samples") if main else ():
            remove_stale_temps(folder)  # left by a process killed while it wrote
        found = newest_readable(run_dir, trainer.parts.device, saved_config(run_dir), warn=main)  # said once
        if found is None and list_checkpoints(run_dir):
            raise ConfigError(f"{run_dir}: none of its {len(list_checkpoints(run_dir))} checkpoint(s) can be read (see "
                              "above); training again from step 0 would overwrite them: move them out of "
                              f"{run_dir / 'checkpoints'} to start over, or train into a new --out folder")
        if found is not None:
            check_checkpoint_config(found[0], found[1], config)
            check_same_data(found[1].get("data_meta", {}), trainer.parts.data_meta(), found[1]["step"], main,
                            conditional="conditional" in (found[1]["kind"], trainer.parts.kind))
            trainer.load_state_dict(found[1])
            if main:
                log.info("resuming %s from step %d", run_dir, trainer.step)
        end = config["train"]["steps"] if stop_at is None else stop_at
        check_ranks_agree(config, trainer.step, end)
        if trainer.step >= end:
            if main:
                log.info("%s is already trained to step %d (train.steps=%d): nothing to do", run_dir, trainer.step, end)
                complete_outputs(trainer, run_dir)
            return trainer.result()
        if main:
            atomic_write_text(run_dir / CONFIG_FILE, dump_yaml(config))
        barrier()
        try:
            return trainer.fit(until=end)
        except DivergenceError as err:
            raise DivergenceError(f"{err}; {kept_checkpoint(run_dir)}") from None


RUN_FOLDERS = ("checkpoints", "samples", "tb")  # what a run folder holds: these folders, the files of RUN_FILES
RUN_FILES = (CONFIG_FILE, "metrics.jsonl", "results.jsonl", "loss_curves.png", "environment.jsonl")


def check_layout(run_dir: Path) -> None:
    """Before anything is written: the run folder's path is UTF-8 (TensorBoard and the logs write it as such; a
    name with other bytes stopped the start half-way), it is new, empty or a run's (``check_not_foreign``), no file
    stands where a folder belongs or the reverse (found at the first checkpoint, after the work), and no run folder
    is a link (the run would write, and delete old checkpoints and temporary files, wherever it points)."""
    try:
        str(run_dir.absolute()).encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"--out: {str(run_dir)!r} holds bytes that are not UTF-8 text; name the run folder in "
                          "UTF-8") from None
    for name in RUN_FOLDERS:
        if (run_dir / name).is_symlink():
            raise ConfigError(f"--out: {run_dir / name} is a link; the run writes and deletes files in its {name} "
                              "folder, so it keeps a real one there: remove the link")
        if (run_dir / name).exists() and not (run_dir / name).is_dir():
            raise ConfigError(f"--out: {run_dir / name} is a file where the run keeps its {name} folder; move it")
    for name in RUN_FILES:
        if (run_dir / name).is_dir():
            raise ConfigError(f"--out: {run_dir / name} is a folder where the run writes its {name}; move it")
    check_not_foreign(run_dir)


def check_not_foreign(run_dir: Path) -> None:
    """Refuse an existing folder that holds other files and no run (neither config.yaml nor a checkpoint;
    ``run_leftover`` aside): training there rewrote metrics.jsonl and results.jsonl, replaced loss_curves.png and
    deleted hidden .tmp files of whatever the folder held (a study's folder, say). A run whose config.yaml was
    deleted is still one: its checkpoints hold its config."""
    if not run_dir.is_dir() or (run_dir / CONFIG_FILE).exists() or list_checkpoints(run_dir):
        return
    foreign = sorted(p.name for p in run_dir.iterdir() if not run_leftover(p))
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise ConfigError(f"--out: {run_dir} holds other files ({shown}) and no run (no {CONFIG_FILE}, no "
                          "checkpoint); name a new or empty folder, or a run folder to resume")


def run_leftover(path: Path) -> bool:
    """What a start killed before its config.yaml was written can leave: the lock, an empty run folder, the
    temporary file of a run file's atomic write (``.config.yaml.XXXX.tmp``)."""
    if path.name == ".lock":
        return True
    if path.name in RUN_FOLDERS:
        return path.is_dir() and not any(path.iterdir())
    return path.is_file() and path.name.endswith(".tmp") and \
        any(path.name.startswith(f".{name}.") for name in RUN_FILES)


def hold_folder(held: contextlib.ExitStack, run_dir: Path) -> str | None:
    """Take the run folder's lock for the rest of ``held``. Under torchrun, another process's hold is returned as the
    message for every rank to stop with (``stop_every_rank_on``); in one process it is raised (FolderBusy)."""
    from ganscape.distributed import world

    try:
        held.enter_context(folder_lock(run_dir))
    except FolderBusy as err:
        if world()[1] == 1:
            raise
        return str(err)
    return None


def stop_every_rank_on(refusal: str | None, run_dir: Path) -> None:
    """Rank 0's refusal (another process holds ``run_dir``) stops every rank with it (the others would fail in their
    next collective, with a traceback from the process group)."""
    from ganscape.distributed import every_rank, world

    if world()[1] > 1:
        refusal = next((r for r in every_rank(refusal) if r), None)
    if refusal:
        raise FolderBusy(refusal, run_dir)


def check_ranks_agree(config: dict[str, Any], step: int, end: int) -> None:
    """Under torchrun, before training: every rank must have resolved the same config and resume step. Another
    command line or another ``--out`` per node otherwise trains on overlapping shards (another seed) or through
    mismatched collectives (another resume step), writing checkpoints that look fine."""
    import hashlib

    from ganscape.distributed import every_rank, world

    if world()[1] == 1:
        return
    digest = hashlib.sha256(dump_yaml(config).encode()).hexdigest()[:8]
    states = every_rank((digest, step, end))
    if len(set(states)) > 1:
        seen = "; ".join(f"rank {r}: config {d}, step {s} of {e}" for r, (d, s, e) in enumerate(states))
        raise ConfigError(f"torchrun: the ranks differ before training ({seen}); every rank must run the same "
                          "command with the same --out, a folder all ranks share")


def complete_outputs(trainer, run_dir: Path) -> None:
    """The final preview and loss plot, when a kill right after the last checkpoint (written before them) lost
    them: a kill loses at most one checkpoint interval, and these come after the last one."""
    for callback in trainer.callbacks:
        if isinstance(callback, SampleWriter) and not (callback.folder / f"step-{trainer.step:08d}.png").exists():
            callback.on_step_end(trainer, trainer.step, {}, None, True)
        if isinstance(callback, LossPlot) and not (run_dir / "loss_curves.png").exists():
            callback.on_fit_end(trainer, True)


def check_same_data(saved: dict[str, Any], now: dict[str, Any], step: int, main: bool = True,
                    conditional: bool = False) -> None:
    """Before a checkpoint is loaded: data of another shape than the checkpoint's, or another class count for a
    ``conditional`` run (a prepared dataset prepared again with other channels, or with a class added), is one line,
    not a size-mismatch traceback from the weights. A prepared dataset prepared
    again since the checkpoint (its manifest changed: another source, or the same one again) may hold other images:
    a warning says so, as the run then goes on with the data prepared now."""
    for section, meta in now.items():
        shape, before_shape = meta.get("shape"), saved.get(section, {}).get("shape")
        if before_shape is not None and shape is not None and list(before_shape) != list(shape):
            raise ConfigError(f"{section}: {meta.get('name')} now gives samples of shape {tuple(shape)}, but the run "
                              f"was trained on {tuple(before_shape)} up to step {step} (was it prepared again with "
                              "other options?); prepare it as before, or train into a new --out folder")
        classes, before_classes = meta.get("num_classes"), saved.get(section, {}).get("num_classes")
        if conditional and before_classes is not None and classes is not None and before_classes != classes:
            raise ConfigError(f"{section}: {meta.get('name')} now has {classes} classes, but the run was trained with "
                              f"{before_classes} up to step {step} (were classes added or removed?); restore the data "
                              "as it was, or train into a new --out folder")
        before = saved.get(section, {}).get("info", {}).get("manifest")
        after = meta.get("info", {}).get("manifest")
        if main and before and after and before != after:
            log.warning("warning: %s (%s) was prepared again after step %d's checkpoint (manifest %s, now %s); the run "
                        "goes on with the data prepared now, which may hold other images", meta.get("name"), section,
                        step, before, after)


def kept_checkpoint(run_dir: Path) -> str:
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        return "no checkpoint was written yet"
    step = max(checkpoints)
    return f"the last good checkpoint is step {step} ({checkpoints[step]})"
