"""Find what a run folder holds: JSON records, figures, configuration and version."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from .._errors import InvalidInputError

_IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg")
# Keys under which runs record their configuration and the pdesolve version.
_CONFIG_KEYS = ("config", "configuration", "parameters", "args")
_VERSION_KEYS = ("pdesolve_version", "version")


@dataclasses.dataclass
class RunRecord:
    """What one run folder (or one JSON file) contributed to the report.

    Attributes:
        path: the folder or file given on the command line.
        name: a short unique label (the folder name).
        records: ``{relative json path: parsed JSON}`` for every readable JSON file.
        images: relative paths of the figures (PNG/SVG/JPEG), sorted.
        config: the run's configuration, from the first JSON that has one of the keys
            ``config``, ``configuration``, ``parameters`` or ``args`` (``None`` if none does).
        version: the pdesolve version recorded by the run (``None`` if it recorded none).
        problems: one line per file that could not be read (bad JSON, unreadable file).
    """

    path: Path
    name: str
    records: dict[str, Any]
    images: list[str]
    config: Any
    version: str | None
    problems: list[str]


def _first_key(records: dict[str, Any], keys) -> Any:
    for record in records.values():
        if isinstance(record, dict):
            for key in keys:
                if key in record and record[key] not in (None, {}, []):
                    return record[key]
    return None


def _read_json(path: Path) -> Any:
    text = path.read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # Commands print progress lines before a --json payload when their output is captured
        # with 2>&1; accept a file whose JSON starts at the first line opening with { or [.
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if line.startswith(("{", "[")):
                return json.loads("\n".join(lines[i:]))
        raise


def collect_run(path: str | Path, name: str | None = None, max_depth: int = 3) -> RunRecord:
    """Read one run folder (searched ``max_depth`` levels deep) or one JSON file.

    Raises:
        InvalidInputError: if ``path`` does not exist or holds neither JSON nor figures.
    """
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"run folder {str(path)!r} does not exist")
    if path.is_file():
        root, files = path.parent, [path]
    else:
        root = path
        files = sorted(
            p for p in path.rglob("*")
            if p.is_file() and len(p.relative_to(path).parts) <= max_depth
        )
    records: dict[str, Any] = {}
    images: list[str] = []
    problems: list[str] = []
    for file in files:
        rel = str(file.relative_to(root))
        if file.suffix.lower() == ".json":
            try:
                records[rel] = _read_json(file)
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
                problems.append(f"{rel}: not readable JSON ({type(err).__name__}: {err})")
        elif file.suffix.lower() in _IMAGE_SUFFIXES:
            images.append(rel)
    if not records and not images:
        raise InvalidInputError(f"{str(path)!r} holds no JSON records and no figures")
    version = _first_key(records, _VERSION_KEYS)
    return RunRecord(
        path=path,
        name=name or (path.stem if path.is_file() else path.name) or str(path),
        records=records,
        images=images,
        config=_first_key(records, _CONFIG_KEYS),
        version=None if version is None else str(version),
        problems=problems,
    )


def collect_runs(paths) -> list[RunRecord]:
    """Read every run in ``paths`` (folders or JSON files); labels are made unique.

    Raises:
        InvalidInputError: if ``paths`` is empty or any path is missing or empty.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise InvalidInputError("no run folders given")
    runs, seen = [], {}
    for path in paths:
        run = collect_run(path)
        count = seen.get(run.name, 0)
        seen[run.name] = count + 1
        if count:
            run.name = f"{run.name}-{count + 1}"
        runs.append(run)
    return runs
