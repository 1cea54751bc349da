"""Injected into worker subprocesses of the fault suite (through PYTHONPATH): every study-database write fails
with "database is locked" with probability $FAULT_LOCKED_P, as a busy SQLite file does."""
import os
import random
import sqlite3

probability = float(os.environ.get("FAULT_LOCKED_P", "0"))
if probability > 0:
    from contextlib import contextmanager

    from ganscape.studies import store

    original = store.Store.transaction
    rng = random.Random(os.getpid())

    @contextmanager
    def flaky_transaction(self):
        if rng.random() < probability:
            raise sqlite3.OperationalError("database is locked")
        with original(self) as db:
            yield db

    store.Store.transaction = flaky_transaction
