"""Unpaired image-to-image translation (CycleGAN, Zhu et al. 2017).

Trained with ``ganscape translate-train CONFIG --out RUN_DIR`` (its own config: two datasets,
two generators, two discriminators), applied with ``ganscape translate RUN_DIR --input DIR
--out DIR``. See ``ganscape.translation.trainer`` for the run folder layout.
"""
from ganscape.translation.models import CRITICS, TRANSLATORS

__all__ = ["CRITICS", "TRANSLATORS"]
