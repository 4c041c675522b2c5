"""The demo's parts in order, and :func:`run_demo`, which runs them and writes ``summary.json``."""

from __future__ import annotations

import datetime
import json
import math
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .._errors import InvalidInputError
from .._version import __version__
from ._config import DemoConfig
from ._inverse import inverse
from ._learning import constraint, dataset, operator
from ._neural_solver import neural_solver
from ._parts import PartContext, PartFailure
from ._report import report
from ._solvers import reference, verify

KINDS = ("verification", "solve", "dataset", "training", "inverse", "constraint", "report")


@dataclass(frozen=True)
class DemoPart:
    """One part of the demo: its `name` (the summary key), record `kind`, `title`, the function
    ``run(ctx) -> record`` and the parts it `needs` (skipped when one of them did not succeed)."""

    name: str
    kind: str
    title: str
    run: Callable[[PartContext], dict]
    needs: tuple[str, ...] = ()


PARTS: tuple[DemoPart, ...] = (
    DemoPart("reference", "solve", "reference solvers", reference),
    DemoPart("verify", "verification", "verification", verify),
    DemoPart("dataset", "dataset", "HDF5 dataset", dataset),
    DemoPart("operator", "training", "neural operator", operator, needs=("dataset",)),
    DemoPart("neural_solver", "solve", "neural PDE solver (TENG)", neural_solver),
    DemoPart("inverse", "inverse", "gradients through the solver", inverse),
    DemoPart("constraint", "constraint", "hard constraint", constraint),
    DemoPart("report", "report", "report", report),
)


def _one_line(err: BaseException, limit: int = 300) -> str:
    """`err` as one line of at most `limit` characters (the part's ``traceback.txt`` has it all)."""
    text = " ".join(str(err).split()) or type(err).__name__
    text = text if isinstance(err, PartFailure) else f"{type(err).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _jsonable(value):
    """`value` with non-finite floats as ``None`` (strict JSON), numpy scalars as floats."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def run_demo(out, config: DemoConfig | None = None, *, progress: bool = True, parts=None,
             echo: Callable[[str], None] | None = None) -> dict:
    """Run the demo `parts` in order into folder `out` (one sub-folder per part) and write
    ``out/summary.json``; returns the summary.

    The summary has one object per part, under its name (``reference``, ``verify``,
    ``dataset``, ``operator``, ``neural_solver``, ``inverse``, ``constraint``, ``report``), with
    its ``kind``, ``status`` (``ok``, ``failed`` or ``skipped``), ``wall_s``, ``date`` (UTC),
    ``commit`` (:func:`pdesolve.bench.git_commit`), a one-line ``summary`` (``error`` when it
    failed) and its numbers, curves and paths; each part also
    writes its object to ``out/<name>/record.json``. A failing part does not stop the others
    (a part that needs it is skipped); ``summary["failed"]`` lists the parts that did not
    succeed. Each part's folder is emptied before it runs. `echo(line)` receives one line per part as it ends. JAX's float64 mode is enabled
    (as the command line does): verification, TENG and the inverse problem run in float64.

    **Arguments:** `out` (folder), `config` (:class:`DemoConfig`, default :meth:`DemoConfig.full`),
    `progress` (tqdm bars), `parts` (default :data:`PARTS`), `echo`.
    """
    import jax

    config = DemoConfig.full() if config is None else config
    parts = PARTS if parts is None else tuple(parts)
    if not isinstance(config, DemoConfig):
        raise InvalidInputError(f"config must be a DemoConfig, got {type(config).__name__}")
    jax.config.update("jax_enable_x64", True)  # float64 verification, TENG and inverse problem; float32 data stay float32
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    echo = echo or (lambda line: None)
    from ..bench import git_commit

    commit = git_commit()
    summary: dict = {"pdesolve_version": __version__, "commit": commit, "config": config.name}
    records: dict = {}
    failed: list[str] = []
    began = time.perf_counter()
    for number, part in enumerate(parts, 1):
        folder = out / part.name
        shutil.rmtree(folder, ignore_errors=True)  # nothing of an earlier run is reported as this one's
        folder.mkdir(parents=True)
        ctx = PartContext(out=folder, config=config, progress=progress, records=records)
        missing = [n for n in part.needs if records.get(n, {}).get("status") != "ok"]
        start = time.perf_counter()
        if missing:
            record = {"status": "skipped", "error": f"needs the {', '.join(missing)} part"}
        else:
            try:
                record = {**part.run(ctx), "status": "ok"}
            except Exception as err:  # a part's failure is reported, the others still run
                record = {**getattr(err, "record", {}), "status": "failed", "error": _one_line(err)}
                (folder / "traceback.txt").write_text(traceback.format_exc())
        record = {"kind": part.kind, "title": part.title, **{k: v for k, v in record.items() if k != "kind"},
                  "wall_s": time.perf_counter() - start, "pdesolve_version": __version__, "commit": commit,
                  "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        record = _jsonable(record)
        records[part.name] = record
        summary[part.name] = record
        (folder / "record.json").write_text(json.dumps(record, indent=2))
        if record["status"] == "ok":
            line = f"[{number}/{len(parts)}] {part.name}: {record.get('summary', 'done')} ({record['wall_s']:.1f} s)"
        else:
            failed.append(part.name)
            line = f"[{number}/{len(parts)}] {part.name} {record['status'].upper()}: {record['error']}"
        echo(line)
    summary["failed"] = failed
    summary["total_wall_s"] = time.perf_counter() - began
    (out / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2))
    return summary


def print_line(line: str) -> None:
    """Print one part line on stderr (for ``--json`` runs, whose stdout is the JSON)."""
    print(line, file=sys.stderr, flush=True)
