"""The evaluation protocol: the ``eval`` section shared by run configs and study specs, and the check that the FID
Inception weights are the standard ones.

Keys: ``metrics`` (names or ``default``), ``n`` (generated samples), ``reference_n`` (real samples of the run's data
split, null = ``n``; e.g. 50000 for CIFAR-10's whole training split, as in TTUR/pytorch-fid statistics),
``extractor`` (``auto``, ``lenet``, ``inception``, ``raw``), ``classifier`` (data section the LeNet classifier trains
on; null = the run's data), ``inception_weights`` (path) and ``inception_sha256`` (the hex prefix the weights file's
SHA-256 must start with; the default is that of pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``, whose name
carries it). Other weights are refused unless ``inception_sha256`` is set to their hash on purpose: their numbers are
not comparable with published FIDs, and every result row records the fingerprint of the weights it used."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ganscape.features.extractor import EXTRACTOR_NAMES
from ganscape.features.inception import OFFICIAL_SHA256_PREFIX
from ganscape.registry import ConfigError

OFFICIAL_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
OFFICIAL_INCEPTION_SHA256 = OFFICIAL_SHA256_PREFIX
EVAL_DEFAULTS = {"metrics": ["default"], "n": 5000, "reference_n": None, "extractor": "auto", "classifier": None,
                 "inception_weights": None, "inception_sha256": OFFICIAL_INCEPTION_SHA256}


def check_eval(section: dict[str, Any], key: str = "eval") -> dict[str, Any]:
    """Check the protocol keys of an ``eval`` section (types and names; files are checked by ``check_ready``)."""
    from ganscape.data import DATASETS
    from ganscape.metrics.defaults import check_metric_list

    check_metric_list(section["metrics"], f"{key}.metrics")
    for name in ("n", "reference_n"):
        value = section[name]
        if not (value is None and name == "reference_n") and (
                not isinstance(value, int) or isinstance(value, bool) or value < 2):
            raise ConfigError(f"{key}.{name}: expected an integer >= 2{' or null' if name == 'reference_n' else ''}, "
                              f"got {value!r}")
    if section["extractor"] not in EXTRACTOR_NAMES:
        raise ConfigError(f"{key}.extractor: unknown extractor {section['extractor']!r}; valid: "
                          f"{', '.join(EXTRACTOR_NAMES)}")
    if section["classifier"] is not None:
        DATASETS.validate(section["classifier"], f"{key}.classifier")
    weights = section["inception_weights"]
    if weights is not None and not (isinstance(weights, str) and weights):
        raise ConfigError(f"{key}.inception_weights: expected a file path or null, got {weights!r}")
    digest = section["inception_sha256"]
    if not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{8,64}", digest)):
        raise ConfigError(f"{key}.inception_sha256: expected 8 to 64 lowercase hex digits, got {digest!r}")
    return section


def check_inception_weights(path: str, expected: str = OFFICIAL_INCEPTION_SHA256, key: str = "eval") -> None:
    """The weights file exists and its SHA-256 starts with ``expected``; else one ConfigError line."""
    from ganscape.utils.io import file_digest

    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"{key}.inception_weights: file not found: {file}. ganscape downloads nothing: get "
                          f"pytorch-fid's {OFFICIAL_INCEPTION_FILE} once and pass its path")
    digest = file_digest(file)
    if not digest.startswith(expected):
        what = ("the standard FID Inception weights (pytorch-fid's pt_inception-2015-12-05)"
                if expected == OFFICIAL_INCEPTION_SHA256 else "the file named by inception_sha256")
        raise ConfigError(f"{key}.inception_weights: {file} has SHA-256 {digest[:16]}..., not {what}, which starts "
                          f"{expected}; use that file, or set {key}.inception_sha256: {digest[:16]} to accept these "
                          "weights on purpose")


def needs_inception(section: dict[str, Any], data_shape: tuple[int, ...], kind: str = "color") -> bool:
    """Whether evaluating data of ``data_shape`` and ``kind`` (``ganscape.data.meta.data_kind``: stacked digits are
    3-channel images whose ``default`` metrics need no Inception) with this section uses the Inception network."""
    from ganscape.metrics.defaults import resolve_metrics
    from ganscape.metrics.registry import build_metric

    if section["extractor"] == "inception":
        return True
    if section["extractor"] != "auto" or len(data_shape) != 3 or data_shape[0] == 1:
        return False
    metrics = resolve_metrics(section["metrics"], {"shape": list(data_shape), "kind": kind})
    return any(build_metric(m).needs in ("features", "probs") for m in metrics)


def check_ready(section: dict[str, Any], data_shape: tuple[int, ...], key: str = "eval", kind: str = "color") -> None:
    """Before any training: the extractor can read the data's samples, and the Inception weights a protocol needs
    are given and are the expected file."""
    from ganscape.features.extractor import check_fits

    check_fits(section["extractor"], tuple(data_shape), f"{key}.extractor")
    if not needs_inception(section, data_shape, kind):
        return
    if not section["inception_weights"]:
        raise ConfigError(f"{key}.inception_weights: evaluating colour images needs the FID Inception weights; set "
                          f"it to the path of pytorch-fid's {OFFICIAL_INCEPTION_FILE} ({key}.inception_weights=PATH; "
                          "`study plan` also takes --inception-weights PATH)")
    check_inception_weights(section["inception_weights"], section["inception_sha256"], key)


def eval_options(section: dict[str, Any]) -> dict[str, Any]:
    """Keyword options of ``evaluate_run``/``evaluate_sampler`` for an eval section."""
    return {"extractor": section["extractor"], "reference_n": section["reference_n"],
            "classifier": section["classifier"], "inception_weights": section["inception_weights"]}
