"""Warnings said once per process: a setting that is ignored at every evaluation of a study is worth one line, not
one line per checkpoint."""
from __future__ import annotations

import logging
import threading
from collections.abc import Hashable

_said: set[tuple[str, Hashable]] = set()
_lock = threading.Lock()


def warn_once(log: logging.Logger, key: Hashable, message: str, *args: object) -> bool:
    """``log.warning(message, *args)`` the first time this process sees ``(log.name, key)``; returns whether it
    warned. ``key`` names what the warning is about (the ignored options and their values), so another value warns
    again."""
    with _lock:
        if (log.name, key) in _said:
            return False
        _said.add((log.name, key))
    log.warning(message, *args)
    return True
