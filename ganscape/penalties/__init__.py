"""Discriminator penalties, registered by name."""
from ganscape.penalties import dragan, r1, wgan_gp  # noqa: F401  (registers them)
from ganscape.penalties.base import PENALTIES, build_penalty, gradient_norms

__all__ = ["PENALTIES", "build_penalty", "gradient_norms"]
