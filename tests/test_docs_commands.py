"""Every command shown in README.md and docs/*.md is still accepted by the code: its options parse, the presets,
built-in studies and config overrides it names exist, and a benchmark command's runs all get a valid config. A
renamed option or preset would otherwise leave the documents' "exact command" for a number silently wrong.

Commands are taken from the fenced code blocks: ``ganscape ...`` (also ``.venv/bin/ganscape``, ``python -m
ganscape`` and ``torchrun ... -m ganscape``) and ``python benchmarks/NAME.py ...``, each part of a ``&&`` or ``|``
chain on its own. A synopsis line (one with ``[optional]`` parts) is not a command and is left out."""
from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

from ganscape.cli import build_parser, parse
from ganscape.registry import ConfigError

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)
SEPARATORS = {"&&", "||", ";", "|", "&"}
MENTIONS_PROGRAM = re.compile(r"(^|[\s/])ganscape(\s|$)|\bbenchmarks/\w+\.py")  # not Python's `import ganscape.x`


def shell_words(line: str) -> list[str]:
    """The words of one shell line as the shell splits them, ``#`` comments dropped and ``&&``/``|``/``;`` kept as
    words of their own."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def simple_commands(words: list[str]) -> list[list[str]]:
    """The simple commands of a chain (``a && b | c`` -> [a, b, c]), each without leading ``VAR=value`` or
    ``time``."""
    commands, current = [], []
    for word in [*words, ";"]:
        if word in SEPARATORS:
            while current and (current[0] == "time" or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", current[0])):
                current.pop(0)
            if current:
                commands.append(current)
            current = []
        else:
            current.append(word)
    return commands


def program_and_arguments(command: list[str]) -> tuple[str, list[str]] | None:
    """("ganscape", argv) or ("reproduce", argv) (a benchmark script's module name) for a command this test checks,
    None for any other (``bash``, ``cd``, ``pip``, ``python -c ...``)."""
    head, rest = command[0], command[1:]
    if head == "ganscape" or head.endswith("/ganscape"):
        return "ganscape", rest
    if head == "torchrun" and "-m" in rest and rest[rest.index("-m") + 1:][:1] == ["ganscape"]:
        return "ganscape", rest[rest.index("-m") + 2:]
    if re.fullmatch(r"(.*/)?python[0-9.]*", head) and rest:
        if rest[:2] == ["-m", "ganscape"]:
            return "ganscape", rest[2:]
        script = re.fullmatch(r"benchmarks/(\w+)\.py", rest[0])
        if script:
            return script.group(1), rest[1:]
    return None


def documented_commands() -> list[tuple[str, str, list[str]]]:
    """(where, program, argv) of every checked command: where is ``docs/results.md:123``, the command's line."""
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for block in FENCE.finditer(text):
            first_line = text.count("\n", 0, block.start(1)) + 1
            for offset, line in logical_lines(block.group(1)):
                line = line.strip().removeprefix("$ ")
                if not MENTIONS_PROGRAM.search(line):
                    continue
                words = shell_words(line)  # comments dropped: a `# ... [--address ...]` note is no synopsis
                if any(word.startswith("[") for word in words):  # [optional] parts: a synopsis, not a command
                    continue
                for command in simple_commands(words):
                    program = program_and_arguments(command)
                    if program:
                        found.append((f"{document.relative_to(ROOT)}:{first_line + offset}", *program))
    return found


def logical_lines(block: str) -> list[tuple[int, str]]:
    """(offset of its first line, text) of each line of a code block, ``\\``-continued lines joined."""
    lines, start, pending = [], 0, ""
    for offset, line in enumerate(block.splitlines()):
        if not pending:
            start = offset
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        lines.append((start, pending + line))
        pending = ""
    return lines


COMMANDS = documented_commands()


def test_the_documents_show_commands_of_every_kind_checked_here():
    """The extraction itself works: the README's tour and the results' benchmark commands are found."""
    programs = {program for _, program, _ in COMMANDS}
    assert {"ganscape", "reproduce", "toy_modes"} <= programs, programs
    assert len(COMMANDS) > 100


@pytest.mark.parametrize("where, program, argv", COMMANDS, ids=[where for where, _, _ in COMMANDS])
def test_a_documented_command_is_accepted(where, program, argv, monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)  # relative paths (--out runs/..., data roots) name nothing real
    command = shlex.join([program, *argv])
    try:
        if program == "ganscape":
            check_ganscape_command(argv)
        else:
            monkeypatch.syspath_prepend(str(BENCHMARKS))
            importlib.import_module(program).parse_args(argv)
    except SystemExit as refused:
        pytest.fail(f"{where}: `{command}` is refused (exit {refused.code}): {capsys.readouterr().err.strip()}")
    except ConfigError as error:
        pytest.fail(f"{where}: `{command}`: {error}")


def check_ganscape_command(argv: list[str]) -> None:
    """Parse ``ganscape ARGV``; a ``train`` of a preset also builds its config with the overrides, and a ``study
    plan`` of a built-in study reads its spec (a user's own YAML file, absent here, is only parsed)."""
    from ganscape.config import load_config
    from ganscape.studies import read_study

    args = parse(build_parser(), argv)
    if args.command == "train" and not Path(args.config).suffix:
        load_config(args.config, args.overrides)
    if args.command == "study" and args.study_command == "plan" and not Path(args.study).suffix:
        read_study(args.study)


STUDY_FILE = re.compile(r"```yaml\n# (\w+)\.yaml\n(.*?)```", re.S)


@pytest.mark.parametrize("where, name, text", [
    (path.name, match[0], match[1]) for path in DOCUMENTS for match in STUDY_FILE.findall(path.read_text())])
def test_a_documented_study_file_plans(where, name, text):
    """A study YAML shown whole (a block starting ``# NAME.yaml``) is read as ``study plan`` reads it: the expand.yaml
    of docs/studies.md had been refused since axes may not share a key, while the page showed it planned."""
    from ganscape.config import parse_yaml
    from ganscape.studies import read_study

    spec = read_study(parse_yaml(text, f"{where}: {name}.yaml"))
    assert spec.name == name
