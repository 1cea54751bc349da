"""Everything around a training step, as callbacks of the trainer core (see ``base``)."""
from ganscape.training.callbacks.base import ORDER, Callback, Check, due  # noqa: F401
from ganscape.training.callbacks.core import (EMA, DivergenceError, DivergenceGuard, Evaluation,  # noqa: F401
                                              eval_mode)
from ganscape.training.callbacks.folder import (Checkpointer, EnvironmentLog, LossPlot, MetricsLog,  # noqa: F401
                                                ResultsLog, SampleWriter, TensorBoardLog, plot_losses)
from ganscape.training.callbacks.progress import Progress  # noqa: F401
