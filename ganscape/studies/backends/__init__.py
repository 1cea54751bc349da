"""Ways to execute a study's tasks: ``local`` (worker subprocesses) and ``ray`` (a Ray cluster)."""
from __future__ import annotations

BACKENDS = ("local", "ray")
