"""Training schemes, registered by name."""
from ganscape.training.schemes import alternating, egan, simultaneous  # noqa: F401  (registers them)
from ganscape.training.schemes.base import SCHEMES, Scheme, build_scheme, grad_norm

__all__ = ["SCHEMES", "Scheme", "build_scheme", "grad_norm"]
