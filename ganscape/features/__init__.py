"""Feature extractors for metrics, none of which downloads anything.

``build_extractor(name, ...)`` returns an ``Extractor`` with ``tag`` (goes into metric names), ``fingerprint`` (goes
into cache keys), ``features(x)`` and, when it has a classifier head, ``probs(x)``:

- ``lenet``: the digit classifier ganscape trains itself (``features.lenet``);
- ``inception``: the FID Inception-v3 with weights from a user-given file (``features.inception``);
- ``raw``: the flattened samples themselves (toy 2-D data);
- ``scenes``: the pooled encoder features of the scenes segmenter (``ganscape.dissection.segmenter``), a feature
  space for FID on the procedural ``scenes`` data without the Inception weights;
- ``auto``: ``raw`` for vectors, ``lenet`` for 1-channel images, ``inception`` for colour images (which needs
  ``inception_weights``)."""
from ganscape.features.extractor import EXTRACTOR_NAMES, Extractor, build_extractor, extract

__all__ = ["EXTRACTOR_NAMES", "Extractor", "build_extractor", "extract"]
