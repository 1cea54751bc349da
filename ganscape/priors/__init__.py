"""Latent priors, registered by name."""
from ganscape.priors import deligan, simple  # noqa: F401  (registers them)
from ganscape.priors.base import PRIORS, Prior, build_prior

__all__ = ["PRIORS", "Prior", "build_prior"]
