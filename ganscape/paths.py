"""Where ganscape keeps files it makes itself: the cache (trained classifiers, reference
statistics) and the data root (prepared datasets)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$GANSCAPE_CACHE``, else ``~/.cache/ganscape``."""
    return Path(cache_dir or os.environ.get("GANSCAPE_CACHE") or Path.home() / ".cache" / "ganscape").expanduser()


def data_root(root: str | os.PathLike | None = None) -> Path:
    """``root``, else ``$GANSCAPE_DATA``, else ``<cache root>/data``."""
    return Path(root or os.environ.get("GANSCAPE_DATA") or cache_root() / "data").expanduser()
