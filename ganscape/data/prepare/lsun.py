"""LSUN scene categories (Yu et al. 2015, https://www.yf.io/p/lsun) from their lmdb folders.

Source: a category folder as the official download unpacks it, e.g. ``bedroom_train_lmdb/`` holding ``data.mdb`` and
``lock.mdb``; every value is one encoded image (WebP in the official files), keyed by its id. Read through the
optional ``lmdb`` package (``pip install 'ganscape[lsun]'``). The prepared name is ``lsun_CATEGORY`` (the folder
name's first part), the split ``train`` or ``val`` (its second). Preprocessing: the largest centred square, resized
to ``size`` (64, 128 or 256 in the GAN literature)."""
from __future__ import annotations

import itertools
import re
from pathlib import Path

from ganscape.data.prepare.base import PREPARERS, decode_split, log, report_skipped, require_extra
from ganscape.data.prepare.store import PreparedWriter
from ganscape.registry import ConfigError, Count, Positive

FOLDER_NAME = re.compile(r"^(?P<category>[a-z_]+?)_(?P<split>train|val)_lmdb$")


def category_and_split(source: Path, warn: bool = False) -> tuple[str, str]:
    """(category, split) from an official folder name, ``CATEGORY_train_lmdb`` or ``CATEGORY_val_lmdb``; another
    name is a train split named after the whole folder (with ``warn``, said)."""
    match = FOLDER_NAME.match(source.name)
    if match:
        return match["category"], match["split"]
    if warn:
        log.warning("warning: --from: folder name %r is not CATEGORY_train_lmdb or CATEGORY_val_lmdb, as the official "
                    "download names it; prepared as the train split of lsun_%s", source.name, source.name)
    return source.name, "train"


def check_complete(source: Path, env) -> None:
    """A ``data.mdb`` shorter than the pages its header counts (an interrupted unzip or copy): lmdb maps the file at
    the recorded size, and reading past its end kills the process with SIGBUS, no message."""
    need = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    have = (source / "data.mdb").stat().st_size
    if have < need:
        raise ConfigError(f"--from: {source / 'data.mdb'} is truncated: {have} bytes, where its header counts "
                          f"{need}; unpack or copy it again")


def default_name(source: Path) -> str:
    return f"lsun_{category_and_split(source)[0]}"


@PREPARERS.register("lsun", "an LSUN category lmdb folder (e.g. bedroom_train_lmdb), optional extra 'lsun'",
                    citation="Yu et al. 2015", default_name=default_name, one_split=lambda options: True)
def lsun(source: Path, out: PreparedWriter, size: Positive = 64, limit: Count = 0):
    """``limit`` keeps the first N images in key order (0: all; the bedroom category has 3 million)."""
    lmdb = require_extra("lmdb", "lsun", "lsun")
    if not (source / "data.mdb").is_file():
        raise ConfigError(f"--from: {source} is not an LSUN lmdb folder (no data.mdb inside)")
    try:
        env = lmdb.open(str(source), readonly=True, lock=False, readahead=False, max_readers=8)
    except lmdb.Error as err:
        raise ConfigError(f"--from: {source} is not a readable lmdb database ({err})") from None
    category, split = category_and_split(source, warn=True)
    with env:
        check_complete(source, env)
        try:
            with env.begin(buffers=False) as txn:
                total = env.stat()["entries"]
                total = min(total, limit) if limit else total
                values = txn.cursor().iternext(keys=False, values=True)  # read here: a transaction is its thread's
                values = itertools.islice(values, limit) if limit else values
                kept, skipped = decode_split(out, split, ((value, None) for value in values), bytes, size, 3,
                                             total=total)
        except lmdb.Error as err:
            raise ConfigError(f"--from: {source / 'data.mdb'} is damaged ({err}); unpack or copy it again") from None
    report_skipped(skipped, len(kept) + skipped, source)
    return {"category": category, "skipped": skipped,
            "preprocessing": f"largest centred square, bicubic resize to {size} x {size}"}
