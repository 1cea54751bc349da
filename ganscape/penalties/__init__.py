"""Discriminator penalties, registered by name."""
from ganscape.penalties import dragan, r1, wgan_gp, weight_clip  # noqa: F401  (registers them)
from ganscape.penalties.base import PENALTIES, Penalty, build_penalty, gradient_norms

__all__ = ["PENALTIES", "Penalty", "build_penalty", "gradient_norms"]
