"""Architectures, registered by name (generators and discriminators)."""
from ganscape.models import dcgan, mlp, pair_critic  # noqa: F401  (registers the architectures)
from ganscape.models import cdcgan, dcgan_tf, resnet, sndcgan, stylegan, stylegan_d, unrolled  # noqa: F401
from ganscape.models.base import DISCRIMINATORS, GENERATORS, build_discriminator, build_generator, count_parameters

__all__ = ["DISCRIMINATORS", "GENERATORS", "build_discriminator", "build_generator", "count_parameters"]
