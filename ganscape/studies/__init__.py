"""Studies: a search space over run configs, planned into tasks, run locally or on Ray,
stored in SQLite and compared in one HTML/CSV report (see docs/studies.md)."""
from __future__ import annotations

from ganscape.studies.plan import Task, plan_tasks, write_plan
from ganscape.studies.spec import StudySpec, read_study
from ganscape.studies.store import Store

__all__ = ["StudySpec", "Task", "Store", "plan_tasks", "read_study", "write_plan"]
