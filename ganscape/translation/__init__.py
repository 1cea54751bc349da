"""Unpaired image-to-image translation (CycleGAN, Zhu et al. 2017) as a run kind.

A config with ``kind: translation`` (presets ``cyclegan-digits``, ``cyclegan-digits-rotate``)
is trained by ``ganscape train`` like any run: its parts are two translators (``models``),
two patch critics, the CycleGAN objective whose step updates them (``objective``) and the
image history pools (``pool``). ``ganscape translate``, ``sample`` and ``eval`` read its runs."""
from ganscape.translation.models import PATCH_CRITICS, TRANSLATORS
from ganscape.translation.objective import TRANSLATION_OBJECTIVES

__all__ = ["PATCH_CRITICS", "TRANSLATION_OBJECTIVES", "TRANSLATORS"]
