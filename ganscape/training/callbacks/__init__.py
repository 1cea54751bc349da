"""Everything around a training step, as callbacks of the trainer core (see ``base``)."""
from ganscape.training.callbacks.base import ORDER, Callback, due
from ganscape.training.callbacks.divergence import DivergenceError, DivergenceGuard
from ganscape.training.callbacks.ema import EMA
from ganscape.training.callbacks.evaluation import Evaluation, eval_mode
from ganscape.training.callbacks.logs import LossPlot, MetricsLog, ResultsLog, TensorBoardLog, plot_losses
from ganscape.training.callbacks.progress import Progress
from ganscape.training.callbacks.saving import Checkpointer, SampleWriter

__all__ = ["ORDER", "Callback", "Checkpointer", "DivergenceError", "DivergenceGuard", "EMA", "Evaluation",
           "LossPlot", "MetricsLog", "Progress", "ResultsLog", "SampleWriter", "TensorBoardLog", "due", "eval_mode",
           "plot_losses"]
