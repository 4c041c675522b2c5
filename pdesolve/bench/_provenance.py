"""Provenance of a result: the command, seed, commit, version and date that produced it."""

from __future__ import annotations

import datetime
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from .._version import __version__


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The git commit of the checkout holding `path` (default: this package), with ``-dirty``
    appended when tracked files have uncommitted changes; ``None`` outside a git checkout."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "") if commit else None


def provenance(seed: int | None, argv: list[str] | None = None) -> dict[str, Any]:
    """``{"command", "seed", "commit", "pdesolve_version", "date"}`` for a result JSON.

    `command` is the command line that ran (``sys.argv`` by default, the script path as given),
    `commit` is :func:`git_commit`, `date` is UTC in ISO 8601.
    """
    argv = list(sys.argv if argv is None else argv)
    if argv and argv[0].endswith(".py"):
        argv = ["python"] + argv
    elif argv:
        argv[0] = Path(argv[0]).name
    return {
        "command": shlex.join(argv),
        "seed": seed,
        "commit": git_commit(),
        "pdesolve_version": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def write_result_json(path: str | os.PathLike, payload: dict, *, seed: int | None,
                      argv: list[str] | None = None) -> Path:
    """Write `payload` with its :func:`provenance` merged in (payload keys win), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {**provenance(seed, argv), **payload}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=float))
    os.replace(tmp, path)
    return path
