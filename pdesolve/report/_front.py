"""The front table: every benchmark and reproduction, one row each, against its anchor."""

from __future__ import annotations

import dataclasses
from typing import Any

from ._format import format_number, is_number
from ._kinds import Part, bench_rows, result_rows, row_label, verification_rows

# The number a row is about, most specific first.
HEADLINE_KEYS = (
    "error_ours", "relative_error", "rel_l2", "relative_l2", "test_rel_l2", "final_error", "error",
    "one_step_rel_l2", "rollout_rel_l2", "relative_l2_fit", "relative_l2_vs_fine_grid", "mass_error",
)


@dataclasses.dataclass
class FrontRow:
    """One row of the front table (plain text cells; the renderer escapes them).

    Attributes:
        what: the benchmark or reproduction (record and case).
        ours: our number, with its quantity and unit.
        anchor: the anchor's or paper's number (or the goal), or ``—``.
        comparison: the ratio (times: anchor / ours, above 1 is faster) or gap (errors: ours / anchor).
        goal_met: ``True``/``False`` where the record states a goal or pass/fail (or a numeric
            ``goal`` the error must not exceed, or a baseline it must beat), else ``None``.
        date, commit: provenance (date to the day, commit to 8 characters).
        part: the :class:`Part` the row comes from (its detail section).
    """

    what: str
    ours: str
    anchor: str
    comparison: str
    goal_met: bool | None
    date: str
    commit: str
    part: Part


def _provenance(part: Part, row: dict) -> tuple[str, str]:
    def find(key):
        for source in (row, part.record if isinstance(part.record, dict) else {}, part.context):
            if isinstance(source.get(key), str):
                return source[key]
        return ""

    date, commit = find("date"), find("commit")
    short = commit[:8] + ("-dirty" if commit.endswith("-dirty") else "") if commit else ""
    return date[:10], short


def _headline(row: dict) -> tuple[str, float] | None:
    for key in HEADLINE_KEYS:
        if is_number(row.get(key)):
            return key, float(row[key])
    for key, value in row.items():
        if is_number(value) and any(w in key for w in ("rel_l2", "error")) and not any(
                w in key for w in ("anchor", "paper", "persistence", "baseline", "tolerance", "goal")):
            return key, float(value)
    return None


def _goal(row: dict, record: Any) -> bool | None:
    for source in (row, record if isinstance(record, dict) else {}):
        for key in ("goal_met", "passed", "all_passed"):
            if isinstance(source.get(key), bool):
                return source[key]
    return None


def _anchor(row: dict, record: Any, key: str) -> tuple[str, float] | None:
    """The anchor's (or paper's) value of the quantity `key` for `row`, with its name."""
    record = record if isinstance(record, dict) else {}
    for source in (row, record):
        if key == "error_ours" and is_number(source.get("error_anchor")):
            return str(source.get("anchor", "anchor")), float(source["error_anchor"])
    model = row.get("model") or row.get("method")
    for name, value in record.items():
        if name.startswith("anchor_") and isinstance(value, dict) and is_number(value.get(model)):
            source = name[len("anchor_"):]
            source = source[len(key) + 1:] if source.startswith(key + "_") else source
            return f"paper ({source.replace('_', ' ')})", float(value[model])
    paper = record.get("paper")
    if isinstance(paper, dict) and "experiment" in row and isinstance(paper.get("resolutions"), list):
        for method, table in paper.items():
            values = table.get(row["experiment"]) if isinstance(table, dict) else None
            if (isinstance(values, list) and key == f"{method}_error"
                    and row.get("resolution") in paper["resolutions"]):
                value = values[paper["resolutions"].index(row["resolution"])]
                if is_number(value):
                    return f"paper ({method})", float(value)
    return None


# Baselines a result is read against, as ``BASE_KEY``/``KEY_BASE`` beside the number itself.
_BASELINES = ("persistence", "unconstrained")


def _baseline(row: dict, record: Any, key: str) -> tuple[str, float] | None:
    """A baseline for `key`, the floor a learned model has to beat: persistence
    (``persistence_KEY``, ``KEY_persistence``, ``persistence`` or ``persistence[KEY]``) or the
    unconstrained model (``KEY_unconstrained``, ...); returns its name and value."""
    bare = key.removeprefix("test_").removeprefix("val_")
    for source in (row, record if isinstance(record, dict) else {}):
        for base in _BASELINES:
            for name in (f"{base}_{key}", f"{base}_{bare}", f"{key}_{base}", f"{bare}_{base}", base):
                value = source.get(name)
                if isinstance(value, dict):
                    value = value.get(key, value.get(bare))
                if is_number(value):
                    return base, float(value)
    return None


def _paper_headline(row: dict, record: Any) -> str | None:
    paper = record.get("paper") if isinstance(record, dict) else None
    if isinstance(paper, dict):
        for method in paper:
            if is_number(row.get(f"{method}_error")):
                return f"{method}_error"
    return None


def _bench_rows(part: Part, rows: list[dict]) -> list[FrontRow]:
    out = []
    for row in rows:
        ours = row.get("ours_s")
        ratio = row.get("ratio")
        if not is_number(ratio) and is_number(row.get("anchor_s")) and is_number(ours) and ours:
            ratio = row["anchor_s"] / ours
        anchor = row.get("anchor")
        anchor_text = "\u2014"
        if is_number(row.get("anchor_s")):
            anchor_text = format_number(row["anchor_s"], "anchor_s")
            anchor_text = f"{anchor}: {anchor_text}" if anchor else anchor_text
        comparison = "\u2014"
        if is_number(ratio):
            text = format_number(ratio, "ratio")
            verdict = "parity" if text.startswith("1.00") else ("faster" if ratio > 1 else "slower")
            comparison = f"{text} ({verdict})"
        ours_text = format_number(ours, "ours_s") if is_number(ours) else "\u2014"
        if not is_number(ours) and row.get("steps_to_target", 0) is None and is_number(row.get("target_loss")):
            steps = f" in {row['num_steps']} steps" if is_number(row.get("num_steps")) else ""
            ours_text += f" (target loss {format_number(row['target_loss'])} not reached{steps})"
        date, commit = _provenance(part, row)
        out.append(FrontRow(
            what=f"{_stem(part)}: {row.get('name', '')}",
            ours=ours_text,
            anchor=anchor_text, comparison=comparison, goal_met=_goal(row, {}), date=date, commit=commit, part=part,
        ))
    return out


# File names that say what a run wrote, not which run: the run's name goes in front of them.
_GENERIC_STEMS = ("record", "summary", "metrics", "history", "results", "result", "config")


def _stem(part: Part) -> str:
    name = part.name
    stem = name[:-5] if name.endswith(".json") else name.replace(".json \u203a", " \u203a")
    base = stem.split(" \u203a ")[0].rsplit("/", 1)[-1]
    if part.run and base in _GENERIC_STEMS:
        return part.run if stem == "record" else f"{part.run} \u203a {stem}"
    return stem


def front_rows(parts: list[Part]) -> list[FrontRow]:
    """The front table's rows for `parts`: one per benchmark case, one per verification table,
    and one per case of any other record that reports an error (with its anchor, paper number or
    goal where the record gives one). A run folder with a ``record.json`` (its curated record, as
    each ``pdesolve demo`` part writes) contributes rows from that file only, not from its
    training bookkeeping (``history.json``, ``metrics.json``)."""
    curated = {p.run for p in parts if p.run and p.source == "record.json"}
    out: list[FrontRow] = []
    for part in parts:
        if part.run in curated and part.source != "record.json":
            continue
        record = part.record
        rows = bench_rows(record)
        if rows is not None:
            out.extend(_bench_rows(part, rows))
            continue
        cases = verification_rows(record)
        if cases is not None:
            passed = sum(bool(c.get("passed")) for c in cases)
            ratios = [c["error"] / c["tolerance"] for c in cases
                      if is_number(c.get("error")) and is_number(c.get("tolerance")) and c["tolerance"] > 0]
            date, commit = _provenance(part, {})
            out.append(FrontRow(
                what=f"{_stem(part)}: verification ({len(cases)} cases)", ours=f"{passed} of {len(cases)} pass",
                anchor="analytic solutions within tolerance",
                comparison=f"worst error / tolerance {format_number(max(ratios))}" if ratios else "\u2014",
                goal_met=passed == len(cases), date=date, commit=commit, part=part))
            continue
        many = len(result_rows(record)) > 1
        for row in result_rows(record):
            key = _paper_headline(row, record)
            headline = (key, float(row[key])) if key else _headline(row)
            if headline is None:
                continue
            key, value = headline
            anchor = _anchor(row, record, key)
            anchor_text, comparison = "\u2014", "\u2014"
            baseline = None
            if anchor is not None:
                anchor_text = f"{anchor[0]}: {format_number(anchor[1], key)}"
                if anchor[1] > 0:
                    comparison = f"{format_number(value / anchor[1])}\u00d7 the anchor's error"
            elif (baseline := _baseline(row, record, key)) is not None:
                anchor_text = f"{baseline[0]}: {format_number(baseline[1], key)}"
                if baseline[1] > 0:
                    comparison = f"{format_number(value / baseline[1])}\u00d7 {baseline[0]}'s error"
            goal = row.get("goal", record.get("goal") if isinstance(record, dict) else None)
            goal_met = _goal(row, record)
            if goal_met is None and baseline is not None:
                goal_met = value < baseline[1]  # a learned model has to beat its baseline
            if is_number(goal):
                if goal_met is None:
                    goal_met = value <= goal
                if anchor is None and anchor_text == "\u2014":
                    anchor_text = f"goal \u2264 {format_number(goal, key)}"
                    if goal > 0:
                        comparison = f"{format_number(value / goal)}\u00d7 the goal"
            label = row_label(row)
            if not label and isinstance(record, dict):
                label = row_label(record)
            date, commit = _provenance(part, row)
            out.append(FrontRow(
                what=f"{_stem(part)}" + (f": {label}" if label and (many or label not in part.name) else ""),
                ours=f"{key} {format_number(value, key)}", anchor=anchor_text, comparison=comparison,
                goal_met=goal_met, date=date, commit=commit, part=part))
    return out
