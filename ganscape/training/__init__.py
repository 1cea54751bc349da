"""Training: the trainer core (``trainer``), the parts it trains (``gan_parts``; translation
runs in ``ganscape.translation.parts``), callbacks, checkpoints, schedules, schemes, and the run
folder (``run_folder.train``) that puts a run on disk."""
from ganscape.training.callbacks import DivergenceError
from ganscape.training.run_folder import train
from ganscape.training.trainer import FitResult, Trainer, build_parts

__all__ = ["DivergenceError", "FitResult", "Trainer", "build_parts", "train"]
