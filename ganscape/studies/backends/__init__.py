"""Ways to execute a study's tasks: ``local`` (worker subprocesses) and ``ray`` (a Ray cluster)."""
