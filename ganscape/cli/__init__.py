"""The ``ganscape`` command line. Each sub-command lives in its own module here and
exposes ``register(subparsers)``, which adds its parser and sets ``func(args) -> int``."""
from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import signal
import sqlite3
import sys
import traceback

from ganscape.registry import ConfigError

COMMANDS = ("train", "sample", "eval", "eval-images", "presets", "components", "metrics", "study", "data",
            "dissect", "intervene", "repair", "segmenter",
            "interpolate", "style-mix", "translate")


class DefaultsFormatter(argparse.HelpFormatter):
    """``--help`` shows an option's default, unless it is None/False or its help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = not any(action.default is hidden for hidden in (None, False, argparse.SUPPRESS))  # 0 is shown
        if action.option_strings and shown and "default" not in text.lower():
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the command's --help (not the whole usage text), and --help
    shows defaults."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ganscape", description="Train, evaluate and compare GANs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"ganscape.cli.{name.replace('-', '_')}").register(sub)
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``; ``key=value`` overrides may also follow the options (``train PRESET --out DIR a=1``), in order.

    argparse alone stops taking a ``nargs="*"`` positional once an option has been seen, so the overrides after
    ``--out`` come back unrecognised; they are appended to the command's ``overrides``. Anything else is an error.
    """
    args, extra = parser.parse_known_args(argv)
    if extra:
        takes_overrides = hasattr(args, "overrides")
        unknown = [word for word in extra if not (takes_overrides and "=" in word and not word.startswith("-"))]
        if unknown:
            hint = "; a config override is KEY=VALUE (e.g. train.steps=100)" if takes_overrides and any(
                not word.startswith("-") for word in unknown) else ""
            command_parser(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
        args.overrides = [*args.overrides, *extra]
    return args


def command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub-)command that ``args`` name, e.g. ``ganscape study run``'s: its errors name its help."""
    while True:
        commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not commands or getattr(args, commands[0].dest, None) not in commands[0].choices:
            return parser
        parser = commands[0].choices[getattr(args, commands[0].dest)]


def program() -> None:
    """The ``ganscape`` program (its console script and ``python -m ganscape``): ``main`` on this process's arguments,
    then exit with its status. A rank of a torchrun run always exits through ``exit_rank`` (see there why), also
    after a usage error (argparse's exit) or an unexpected exception (its traceback, then status 1)."""
    from ganscape.distributed import exit_rank, launched_as_ranks

    if not launched_as_ranks():
        stop_on_sigterm()
        sys.exit(main())
    try:
        code = main()
    except SystemExit as stop:  # argparse: --help, usage errors
        code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    except BaseException:
        traceback.print_exc()
        code = 1
    exit_rank(code)


def stop_on_sigterm() -> None:
    """SIGTERM (``timeout``, a batch scheduler, ``kill``) stops a command as Ctrl-C does, so its clean-up runs: a
    half-written export's temporary file is removed, a study's workers are stopped and their tasks put back."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)


def out_of_memory(err: BaseException) -> bool:
    """An allocation that failed on the CPU (torch's RuntimeError, Python's MemoryError) or a GPU."""
    import torch

    gpu = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)  # torch.OutOfMemoryError: torch >= 2.5
    return isinstance(err, (MemoryError, gpu)) or "can't allocate memory" in str(err)


def memory_detail(err: BaseException) -> str:
    """``you tried to allocate 256000000000000 bytes`` from torch's message, else its last line."""
    text = str(err).strip()
    start = text.find("you tried to allocate")
    if start >= 0:
        return text[start:].split(". ")[0]
    return text.splitlines()[-1] if text else type(err).__name__


STORAGE_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
                  errno.EFBIG: "the file is larger than this process may write (ulimit -f)",
                  errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
                  errno.EPERM: "permission denied", errno.ENAMETOOLONG: "the name is too long",
                  errno.ENOTDIR: "a part of the path is a file, not a folder",
                  errno.EISDIR: "it is a folder, not a file", errno.EIO: "an input/output error"}


def storage_error(err: OSError) -> bool:
    """A file system refusal (full disk, quota, size limit, permissions, names): the user's to fix, so one line."""
    return err.errno in STORAGE_ERRORS


def storage_message(err: OSError) -> str:
    """``PATH: STRERROR (what it means); ...``: the file, the system's words and what to do. Files written atomically
    (checkpoints, results, reports) keep their last complete version."""
    where = f"{err.filename}: " if err.filename else ""
    return (f"{where}{err.strerror} ({STORAGE_ERRORS[err.errno]}); once that is fixed, run the same command again "
            "(finished checkpoints and results are kept)")


def reopen_closed_streams() -> None:
    """A standard stream the shell closed (``2>&-``) is None in Python, and the progress bars, warnings and logging
    that write to it failed before the command did anything: it writes to the null device instead."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))


def main(argv: list[str] | None = None) -> int:
    reopen_closed_streams()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return run_command(argv)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM while starting (the imports take seconds): nothing began
        print("ganscape: interrupted before the command started", file=sys.stderr)
        return 130


def run_command(argv: list[str] | None) -> int:
    """Import the user's plugins, parse ``argv`` and run its command: its status, or one line for a known error."""
    from ganscape.plugins import import_plugins

    try:
        import_plugins()  # before the parser: `components` and `metrics` list a user's own parts too
    except ConfigError as err:
        print(f"ganscape: error: {err}", file=sys.stderr)
        return 2
    args = parse(build_parser(), argv)
    try:
        return args.func(args) or 0
    except ConfigError as err:
        print(f"ganscape: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        resumes = getattr(args, "resumes", False)  # True, or what the command says it resumes from
        again = resumes(args) if callable(resumes) else "resume" if resumes else "start it over"
        print(f"ganscape: interrupted; run the same command again to {again}", file=sys.stderr)
        return 130
    except (MemoryError, RuntimeError) as err:
        if not out_of_memory(err):
            raise
        print(f"ganscape: error: out of memory ({memory_detail(err)}); ask for less at once (a smaller --n, --rows, "
              "--batch or train.batch_size)", file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as err:  # a study's database: full disk, read-only, not a database, locked > 60 s
        folder = getattr(args, "study_dir", None) or getattr(args, "out", None)
        print(f"ganscape: error: the study database{f' in {folder}' if folder else ''}: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as err:
        if not storage_error(err):
            raise
        print(f"ganscape: error: {storage_message(err)}", file=sys.stderr)
        return 1
