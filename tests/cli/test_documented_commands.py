"""Every ``pdesolve ...`` command shown in the README, the docs pages and experiments/README.md
parses with today's command line (nothing is run): a renamed or removed option fails here
instead of in a reader's terminal."""

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from pdesolve import InvalidInputError
from pdesolve.cli import build_parser
from pdesolve.cli._solve import _check_options_apply

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "experiments" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_FENCES = ("", "bash", "sh", "shell", "console")


def _shell_blocks(text: str):
    """The bodies of the fenced code blocks in a shell language (or none)."""
    inside, language, lines = False, "", []
    for line in text.splitlines():
        if line.startswith("```"):
            if inside and language in SHELL_FENCES:
                yield "\n".join(lines)
            inside, language, lines = not inside, line[3:].strip(), []
        elif inside:
            lines.append(line)


def _commands(text: str) -> list[str]:
    """The argument strings after ``pdesolve`` (or ``.venv/bin/pdesolve``) in the shell blocks."""
    found = []
    for block in _shell_blocks(text):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            line = line.strip()
            match = re.search(r"(?:^|\s)(?:\S*/)?pdesolve\s+(.*)$", line)
            if line.startswith("#") or match is None:
                continue
            rest = re.split(r"\s+#", match.group(1))[0]  # a trailing comment
            rest = re.split(r"\s*(?:\||&&|;|>|&$)\s*", rest)[0]  # pipes, redirections, background
            found.append(re.sub(r"\$\{?\w+\}?", "0", rest))  # shell variables such as $k
    return found


COMMANDS = sorted({(page.relative_to(ROOT).as_posix(), command) for page in PAGES
                   for command in _commands(page.read_text())})


class _Refused(Exception):
    pass


def _parse(argv: list[str]) -> None:
    """Parse `argv` with the real parser; a usage error raises :class:`_Refused`."""

    def refuse(self, message):
        raise _Refused(f"{self.prog}: {message}")

    parser = build_parser()
    pending = [parser]
    while pending:  # every sub-command parser reports its own errors
        current = pending.pop()
        current.error = refuse.__get__(current)
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend(action.choices.values())
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):  # --help exits 0
        args = parser.parse_args(argv)
        if getattr(args, "command", None) == "solve":  # options that the chosen --method would not read
            try:
                _check_options_apply(args, args.method)
            except InvalidInputError as err:
                raise _Refused(str(err)) from None


def test_the_pages_show_many_commands():
    assert len(COMMANDS) >= 30, COMMANDS
    assert {page for page, _ in COMMANDS} >= {"README.md", "docs/neural-operators.md", "docs/datasets.md"}


@pytest.mark.parametrize(("page", "command"), COMMANDS, ids=[f"{p}:{c[:60]}" for p, c in COMMANDS])
def test_documented_command_parses(page, command):
    try:
        _parse(shlex.split(command))
    except _Refused as err:
        pytest.fail(f"{page}: `pdesolve {command}` is refused: {err}")


@pytest.mark.parametrize("command", ["train fno --data x.h5 --steps 5", "solve heat --resolutio 16", "bench nothing",
                                     "solve heat --width 8", "solve heat --method insr --integrator rk4",
                                     "bench scaling --processes 0", "bench reference --repeats 0"])
def test_misspelt_or_abbreviated_options_are_refused(command):
    """Options are taken as spelled in full (``--steps`` is not ``--steps-per-epoch``)."""
    with pytest.raises(_Refused):
        _parse(shlex.split(command))
