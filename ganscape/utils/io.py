"""File writing: atomic writes (temp file in the same folder, fsync, rename) with the user's
umask, JSON lines, and a check that an output location is writable before work starts."""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Iterator

from ganscape.registry import ConfigError

log = logging.getLogger(__name__)
# errors of a write the file system refuses until the user acts (frees space, raises a limit, remounts): retrying does
# not help, and the error may carry no file name
FULL_STORAGE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically. A crash before the rename
    leaves the old file untouched (and at most a stray ``.tmp`` file, which is removed on error). The file and then
    its folder are synced: after a power loss the new file is there, not the name of a file never written (a
    checkpoint's older siblings are deleted right after it is saved)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~current_umask())  # mkstemp makes 0600; files get the user's umask
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """fsync a folder, so that a rename in it survives a power loss; a file system that cannot sync folders
    (some network ones) is left as it is."""
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def current_umask() -> int:
    """The process umask, read without changing it (Linux), else by setting and restoring it."""
    with suppress(OSError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def first_missing(folder: str | os.PathLike) -> Path | None:
    """The outermost folder that does not exist yet on the way to ``folder`` (None when ``folder`` exists): what to
    remove again when the work that made it fails."""
    folder, missing = Path(folder), None
    while not folder.exists():
        missing, folder = folder, folder.parent
    return missing


def remove_empty_folders(inner: str | os.PathLike, outer: str | os.PathLike | None) -> None:
    """Remove ``inner`` and the folders above it up to ``outer`` (``first_missing``'s answer before the work began;
    None: nothing), innermost first, each only while it is empty: another process may have written into one since."""
    if outer is None:
        return
    folder, outer = Path(inner), Path(outer)
    while True:
        try:
            folder.rmdir()
        except OSError:  # not empty (someone else's files), or gone already
            return
        if folder == outer or folder.parent == folder:
            return
        folder = folder.parent


def check_writable(path: str | os.PathLike) -> None:
    """Raise ConfigError unless ``path`` can be created or appended to, found by trying (permission
    bits alone say nothing for root or read-only file systems). Creates nothing that stays."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; expected a file path")
    try:
        if path.exists():
            open(path, "a").close()
            return
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        # named as atomic_path names its temporary file (14 characters longer than the name): a name near the file
        # system's limit fails here, not after the work
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ConfigError(f"{path}: cannot write there ({err.strerror})") from None


class FolderBusy(ConfigError):
    """Another live process holds the lock of ``folder`` (None where the message came from another rank)."""

    def __init__(self, message: str, folder: str | os.PathLike | None = None):
        super().__init__(message)
        self.folder = Path(folder) if folder is not None else None


@contextmanager
def folder_lock(folder: str | os.PathLike, wait: bool = False,
                busy: str = "another process is using this run folder right now; wait for it or use another --out "
                            "folder") -> Iterator[None]:
    """Hold ``FOLDER/.lock`` exclusively (``flock``; released by the OS when the process dies, so a killed process
    never leaves a stale lock). Raises FolderBusy (a ConfigError, ``FOLDER: busy``) when another process holds it,
    or with ``wait`` waits for it (a cache that one process fills while the others wait to read it)."""
    import fcntl

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusy(f"{folder}: {busy}", folder) from None
        yield


def folder_busy(folder: str | os.PathLike) -> bool:
    """Another live process holds ``FOLDER/.lock`` right now (a look, not a hold: the lock is released at once)."""
    try:
        with folder_lock(folder):
            return False
    except FolderBusy:
        return True


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files ``atomic_path`` leaves behind when its process is killed mid-write
    (``.NAME.XXXX.tmp``) in ``folder``; returns them. Only while nothing else writes there."""
    folder = Path(folder)
    stale = [p for p in folder.glob(".*.tmp") if p.is_file()] if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def append_jsonl(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Append one JSON object as a line (``append_line``), holding the file's lock (``jsonl_lock``); the file is never
    rewritten here, so other processes' appends are never lost."""
    with jsonl_lock(path) as fh:
        append_line(fh, record)


def append_line(fh, record: dict[str, Any]) -> None:
    """Append one JSON object as a line to ``fh`` (opened ``a+b``) in a single write call, flushed and fsynced. After
    a torn last line (a killed writer's), the line starts with a newline in the same write, so the record is not
    glued onto the torn one (which readers skip)."""
    line = json.dumps(record, sort_keys=True) + "\n"
    fh.seek(0, os.SEEK_END)
    if fh.tell() > 0:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) != b"\n":
            line = "\n" + line
    fh.write(line.encode("utf-8"))  # append mode: at the end, whatever was read
    fh.flush()
    os.fsync(fh.fileno())


@contextmanager
def jsonl_lock(path: str | os.PathLike) -> Iterator[Any]:
    """The JSON-lines file at ``path`` (made when missing; a symbolic link refused) open ``a+b``, under an exclusive
    ``flock`` for one change: an append, or a rewrite through ``atomic_path``. Every ganscape writer of a log takes
    it, so a rewrite (a re-evaluated checkpoint's records replaced; a resumed run's later records dropped) never
    loses another process's append. A rewrite replaces the file, so a writer that waited on the old one's lock
    opens the new one and waits again."""
    import fcntl

    while True:
        fh = open(path, "a+b", opener=no_link_opener(path))
        try:
            fcntl.flock(fh, fcntl.LOCK_EX)
            with suppress(FileNotFoundError):
                if os.path.samestat(os.fstat(fh.fileno()), os.stat(path)):
                    break
        except BaseException:
            fh.close()
            raise
        fh.close()
    try:
        yield fh
    finally:
        fh.close()


def link_refused(path: str | os.PathLike) -> ConfigError:
    """The refusal of a symbolic link in place of a log: a run or study folder received from someone else could link
    its logs to a file outside it (a shell's start-up file) for ganscape to append to."""
    return ConfigError(f"{path}: a symbolic link; ganscape does not write through links (was this folder made "
                       "elsewhere?); replace it with a plain file")


def no_link_opener(path: str | os.PathLike):
    """An ``open`` opener that refuses a symbolic link in place of the file (``link_refused``)."""
    def opener(name, flags):
        try:
            return os.open(name, flags | os.O_NOFOLLOW, 0o666)  # open()'s own mode: the umask decides
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise link_refused(path) from None
            raise
    return opener


def truncate_jsonl(path: str | os.PathLike, step: int) -> None:
    """Drop the records of a JSON-lines log whose ``step`` is after ``step`` (logged after the
    checkpoint a run resumes from), and a torn last line. A symbolic link is refused (``link_refused``)."""
    path = Path(path)
    if path.is_symlink():
        raise link_refused(path)
    if not path.exists():
        return
    with jsonl_lock(path):
        records = read_jsonl(path)
        kept = [r for r in records if r.get("step", 0) <= step]
        if len(kept) != len(records) or len(records) != len(path.read_text(encoding="utf-8").splitlines()):
            atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a JSON-lines file, skipping a torn last line left by a crash."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with suppress(json.JSONDecodeError):
            records.append(json.loads(line))
    return records


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_cached_tensors(path: str | os.PathLike) -> dict[str, Any] | None:
    """A cache file's tensors (safetensors), or None, with one warning, when it cannot be read (cut short by a kill
    or a full disk): the caller builds it again rather than failing with safetensors' traceback."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        log.warning("warning: cache file %s cannot be read (%s); building it again", path,
                    str(err).splitlines()[0] if str(err) else type(err).__name__)
        return None
