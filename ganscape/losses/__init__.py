"""GAN objectives, registered by name. Each module holds one objective family."""
from ganscape.losses import hinge, least_squares, relativistic, standard, turing, wgan  # noqa: F401  (registers them)
from ganscape.losses.base import OBJECTIVES, Objective, build_objective

__all__ = ["OBJECTIVES", "Objective", "build_objective"]
