"""Running the command line inside the test process, and snapshots of folders to prove nothing changed."""
from __future__ import annotations

import contextlib
import io
import subprocess
from pathlib import Path

from ganscape.cli import main


def ganscape(*args: str) -> subprocess.CompletedProcess:
    """Run the command line in this process (a crash raises here); stdout and stderr as a user sees them."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's usage errors
            code = exit_.code
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` (hidden ones included) -> (size, modification time); every folder -> (-1, 0), so
    an empty folder left behind counts as a change."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else (-1, 0)
            for p in folder.rglob("*")}
