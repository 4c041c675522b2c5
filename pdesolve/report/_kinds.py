"""What a JSON record is: verification, benchmark, training, solve, learning curve, or other.

An explicit ``"kind"`` key wins (top level or per part); otherwise the kind is read off the keys
the project's commands and experiments write.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ._format import is_number

KINDS = (
    "verification", "bench", "training", "solve", "learning_curve",
    "dataset", "inverse", "constraint", "report", "table",
)
# Keys that record provenance; a demo summary's parts inherit them from the top level.
PROVENANCE_KEYS = ("command", "seed", "commit", "pdesolve_version", "date", "device", "machine")
_SAMPLE_KEYS = ("train_samples", "training_samples", "n_train", "num_train", "samples", "train_size")
_STEP_KEYS = ("steps", "train_steps")


@dataclasses.dataclass
class Part:
    """One thing the report shows: a whole JSON record, or one part of a multi-part summary.

    Attributes:
        source: the record's path relative to its run folder.
        name: ``source``, or ``source › key`` for one part of a summary.
        kind: one of :data:`KINDS` (an explicit kind outside them is kept as given).
        record: the JSON value itself.
        context: provenance (date, commit, ...) inherited from the enclosing summary.
        run: the name of the run folder the record comes from (``""`` when not known).
    """

    source: str
    name: str
    kind: str
    record: Any
    context: dict
    run: str = ""


_LABEL_KEYS = ("name", "model", "method", "problem", "experiment", "case")


def row_label(row: dict, fallback: str = "") -> str:
    """A short name for one result row: its ``name``/``model``/``method``/``problem``/... (two at most)."""
    parts = [str(row[k]) for k in _LABEL_KEYS
             if isinstance(row.get(k), (str, int)) and not isinstance(row.get(k), bool)]
    return " / ".join(list(dict.fromkeys(parts))[:2]) or fallback


def _dict_rows(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(r, dict) for r in value)


def is_verification_rows(value: Any) -> bool:
    """A list of ``{"case", "error", "tolerance", "passed", ...}`` as ``pdesolve verify --json`` prints."""
    return _dict_rows(value) and all("case" in r and ("passed" in r or "tolerance" in r) for r in value)


def verification_rows(record: Any) -> list[dict] | None:
    """The verification cases in `record` (the list itself, or under ``cases``/``results``/``verify``)."""
    if is_verification_rows(record):
        return record
    if isinstance(record, dict):
        for key in ("cases", "results", "verify", "table"):
            if is_verification_rows(record.get(key)):
                return record[key]
    return None


def bench_rows(record: Any) -> list[dict] | None:
    """The rows of a ``pdesolve bench --json`` record (``results`` with ``ours_s`` and an anchor)."""
    rows = record.get("results") if isinstance(record, dict) else None
    if _dict_rows(rows) and all("ours_s" in r and ("anchor_s" in r or "ratio" in r) for r in rows):
        return rows
    return None


def result_rows(record: Any) -> list[dict]:
    """Per-case rows of a record: its ``results`` list, the record itself if it is a list, or ``[record]``."""
    if isinstance(record, dict) and _dict_rows(record.get("results")):
        return record["results"]
    if _dict_rows(record):
        return record
    return [record] if isinstance(record, dict) else []


def _has_history(record: Any) -> bool:
    if _dict_rows(record):
        return any(("step" in r or "epoch" in r) and any("loss" in k for k in r) for r in record)
    if not isinstance(record, dict):
        return False
    if _dict_rows(record.get("history")) or _dict_rows(record.get("curve")):
        return True
    keys = {k for row in result_rows(record) for k in row} | set(record)
    return any(k in keys for k in (
        "logged_losses", "valid_error_per_epoch", "loss_history", "train_loss", "final_train_loss",
        "train_s", "train_seconds"))


def _has_error_in_time(record: Any) -> bool:
    return any(
        isinstance(r.get("times"), list) and isinstance(r.get("errors"), list) for r in result_rows(record)
    ) or (isinstance(record, dict) and any(k in record for k in ("final_error", "integrator")))


def _has_learning_curve(record: Any) -> bool:
    rows = result_rows(record)
    return len(rows) >= 2 and all(any(is_number(r.get(k)) for k in _SAMPLE_KEYS) for r in rows)


def record_kind(record: Any) -> str:
    """The kind of one JSON record, one of :data:`KINDS`.

    An explicit string ``record["kind"]`` wins. Otherwise: verification cases; benchmark rows
    (``results`` with ``ours_s`` and ``anchor_s``/``ratio``); a learning curve (rows with a
    training-set size); training (a per-epoch history, a fit curve or logged losses); a solve
    (error against time, or a solver summary); anything else is ``"table"``.
    """
    if isinstance(record, dict) and isinstance(record.get("kind"), str):
        return record["kind"]
    if verification_rows(record) is not None:
        return "verification"
    if bench_rows(record) is not None:
        return "bench"
    if _has_learning_curve(record):
        return "learning_curve"
    if _has_history(record):
        return "training"
    if _has_error_in_time(record):
        return "solve"
    return "table"


def _is_part(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("kind"), str)


def split_parts(source: str, record: Any) -> list[Part]:
    """The parts the report shows for one JSON file.

    A summary whose values carry their own ``"kind"`` (``pdesolve demo``'s ``summary.json``), or
    that holds a verification table among other objects, is split into one part per key (plain
    values stay in a ``summary`` part); any other record is one part.
    """
    splittable = isinstance(record, dict) and not isinstance(record.get("kind"), str) and (
        any(_is_part(v) for v in record.values())
        or (any(is_verification_rows(v) for v in record.values()) and len(record) > 1)
    )
    if not splittable:
        return [Part(source, source, record_kind(record), record, {})]
    context = {k: record[k] for k in PROVENANCE_KEYS if k in record}
    parts, rest = [], {}
    for key, value in record.items():
        if isinstance(value, dict) or is_verification_rows(value):
            parts.append(Part(source, f"{source} \u203a {key}", record_kind(value), value, context))
        else:
            rest[key] = value
    if rest:
        parts.insert(0, Part(source, f"{source} \u203a summary", "table", rest, context))
    return parts
