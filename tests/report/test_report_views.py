"""The curated report: number formatting, record kinds, figure selection and the front table,
on tiny synthetic records of each kind and on every record in ``experiments/results/``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pdesolve.report import (
    X_QUANTITIES, collect_runs, format_number, front_rows, record_kind, render_report, select_figures,
    split_parts,
)

RESULTS = Path(__file__).resolve().parents[2] / "experiments" / "results"

VERIFY = [
    {"case": "heat_1d", "resolution": 64, "error": 2.0e-12, "tolerance": 1e-10, "order": None, "passed": True},
    {"case": "advection", "resolution": 32, "error": 3.0e-3, "tolerance": 1e-3, "order": 2.0, "passed": False},
]
BENCH = {"date": "2026-11-23T12:00:00+00:00", "commit": "0123456789abcdef", "results": [
    {"name": "ns/etdrk4", "ours_s": 1.0, "anchor": "exponax", "anchor_s": 1.36, "ratio": 1.36},
    {"name": "heat", "ours_s": 2.0, "anchor": "exponax", "anchor_s": 1.0, "ratio": 0.5}]}
HISTORY = [{"epoch": e, "step": 10 * e, "train_loss": 1.0 / e, "val_rollout_rel_l2": 0.5 / e, "learning_rate": 1e-3,
            "seconds": 1.0 * e} for e in (1, 2, 3)]
SOLVE = {"problem": "heat", "method": "teng", "times": [0.0, 0.5, 1.0], "errors": [1e-6, 2e-6, 4e-6],
         "final_error": 4e-6, "wall_s": 3.2}
LEARNING = {"paper": 0.01, "results": [{"train_samples": n, "error": 1.0 / n} for n in (10, 100, 1000)]}
DEMO = {
    "pdesolve_version": "0.2.0", "date": "2026-12-06T01:00:00+00:00", "commit": "fedcba9876543210",
    "reference": {"kind": "solve", "wall_s": 4.2, "figures": ["heat_snapshots.png"]},
    "verify": {"kind": "verification", "cases": VERIFY},
    "operator": {"kind": "training", "history": HISTORY, "test_rel_l2": 0.05, "persistence_rel_l2": 0.2},
    "inverse": {"kind": "inverse", "viscosity_true": 1e-3, "viscosity_recovered": 1.0004e-3,
                "relative_error": 4e-4, "goal": 1e-3, "goal_met": True},
    "constraint": {"kind": "constraint", "mass_error": None, "mass_error_reason": "part skipped"},
}


def _png(path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [1, 0])
    fig.savefig(path)
    plt.close(fig)


def test_numbers_have_three_significant_digits_and_units():
    assert [format_number(v) for v in (0.003677, 1.916, 1605.86, 1.2495e-5, 0.0, 2.5e7)] == [
        "0.00368", "1.92", "1610", "1.25e-05", "0", "2.50e+07"]
    assert format_number(1.5, "wall_s") == "1.50 s"
    assert format_number(2_000_000, "peak_bytes") == "2.00 MB"
    assert format_number(1.364, "ratio") == "1.36\u00d7"
    assert format_number(4.08, "samples_per_s_ours") == "4.08 /s"
    assert format_number(0.5, "seconds_per_step") == "0.500 s"
    assert format_number(800, "steps") == "800"


@pytest.mark.parametrize("record, kind", [
    (VERIFY, "verification"), (BENCH, "bench"), (HISTORY, "training"), (SOLVE, "solve"),
    (LEARNING, "learning_curve"), ({"kind": "inverse", **BENCH}, "inverse"), ({"model": "fno", "lr": 1e-3}, "table"),
])
def test_record_kind(record, kind):
    assert record_kind(record) == kind


def test_demo_summary_splits_into_its_parts_with_provenance():
    parts = split_parts("summary.json", DEMO)
    assert [(p.name.split(" \u203a ")[1], p.kind) for p in parts] == [
        ("summary", "table"), ("reference", "solve"), ("verify", "verification"), ("operator", "training"),
        ("inverse", "inverse"), ("constraint", "constraint")]
    assert all(p.context["commit"] == "fedcba9876543210" for p in parts)
    # today's demo summary: a verification list beside plain objects
    old = split_parts("summary.json", {"pdesolve_version": "0.2.0", "heat": {"wall_s": 1.0}, "verify": VERIFY})
    assert [p.kind for p in old] == ["table", "table", "verification"]


def test_figures_per_kind():
    (bars,) = select_figures("bench", BENCH)
    assert bars.style == "bars" and bars.reference == (1.0, "parity")
    assert bars.bar_labels == ["ns/etdrk4", "heat"] and bars.series[0].y == [1.36, 0.5]
    assert select_figures("verification", VERIFY) == []
    assert select_figures("table", {"splits": [0.8, 0.1, 0.1], "x": [1, 2, 3, 4, 5, 6, 7]}) == []
    loss, error = select_figures("training", HISTORY)
    assert loss.x_quantity == "training step" and loss.series[0].x == [10.0, 20.0, 30.0]
    assert [s.label for s in error.series] == ["val_rollout_rel_l2"]
    (time,) = select_figures("solve", SOLVE)
    assert time.x_quantity == "time" and time.series[0].x == [0.0, 0.5, 1.0]
    (curve,) = select_figures("learning_curve", LEARNING)
    assert (curve.xscale, curve.yscale, curve.reference) == ("log", "log", (0.01, "paper"))
    assert curve.series[0].x == [10.0, 100.0, 1000.0]
    # rows with a step count: error against samples at each step count, and against steps at each sample count
    runs = [(100, 500, 0.2), (300, 495, 0.1), (1000, 500, 0.05), (1000, 3000, 0.02), (1000, 300, 0.08)]
    grid = {"error_anchor": 0.0128, "results": [{"model": "fno", "train_samples": n, "steps": s, "error": e,
                                                  "steps_requested": 500 if s == 495 else s} for n, s, e in runs]}
    samples, steps = select_figures("learning_curve", grid)
    assert [(s.label, s.x, s.y) for s in samples.series] == [("fno, 500 steps", [100.0, 300.0, 1000.0], [0.2, 0.1, 0.05])]
    assert [(s.label, s.x, s.y) for s in steps.series] == [
        ("fno, 1000 samples", [300.0, 500.0, 3000.0], [0.08, 0.05, 0.02])]
    assert (steps.x_quantity, steps.xscale, steps.reference) == ("training step", "log", (0.0128, "paper"))
    # logged losses without a step count would need the row index as x: no figure
    assert select_figures("training", {"results": [{"model": "soft", "logged_losses": [3.0, 2.0, 1.0]}]}) == []
    (logged,) = select_figures("training", {"steps": 300, "results": [{"model": "soft", "logged_losses": [3.0, 2.0, 1.0]}]})
    assert logged.series[0].x == [100.0, 200.0, 300.0]


def test_front_table_rows():
    parts = [p for rel, rec in (("bench.json", BENCH), ("verify.json", VERIFY), ("summary.json", DEMO),
                                ("fno.json", {"name": "fno2d", "error_ours": 0.0796, "anchor": "FNO-2D",
                                              "error_anchor": 0.0128, "goal_met": False}))
             for p in split_parts(rel, rec)]
    rows = {r.what: r for r in front_rows(parts)}
    fast = rows["bench: ns/etdrk4"]
    assert (fast.ours, fast.anchor, fast.comparison, fast.date, fast.commit) == (
        "1.00 s", "exponax: 1.36 s", "1.36\u00d7 (faster)", "2026-11-23", "01234567")
    assert rows["bench: heat"].comparison == "0.500\u00d7 (slower)"
    verify = rows["verify: verification (2 cases)"]
    assert (verify.ours, verify.goal_met, verify.comparison) == ("1 of 2 pass", False, "worst error / tolerance 3.00")
    fno = rows["fno: fno2d"]
    assert (fno.ours, fno.anchor, fno.comparison, fno.goal_met) == (
        "error_ours 0.0796", "FNO-2D: 0.0128", "6.22\u00d7 the anchor's error", False)
    operator = rows["summary \u203a operator"]
    assert (operator.ours, operator.anchor, operator.comparison) == (
        "test_rel_l2 0.0500", "persistence: 0.200", "0.250\u00d7 persistence's error")
    inverse = rows["summary \u203a inverse"]
    assert (inverse.ours, inverse.anchor, inverse.goal_met, inverse.commit) == (
        "relative_error 4.00e-04", "goal \u2264 0.00100", True, "fedcba98")



def test_front_table_names_rows_by_run_and_reads_the_curated_record(tmp_path):
    """A demo part's folder (``record.json`` beside a training run's bookkeeping) gives one row,
    named after the folder; baselines (persistence, the unconstrained model) and numeric goals
    decide whether the goal is met."""
    operator = tmp_path / "operator"
    operator.mkdir()
    (operator / "record.json").write_text(json.dumps(
        {"kind": "training", "model": "fno", "test_rollout_rel_l2": 0.1, "persistence_rollout_rel_l2": 0.4,
         "date": "2026-12-06T01:00:00+00:00", "commit": "abcdef0123456789"}))
    (operator / "history.json").write_text(json.dumps(HISTORY))
    (operator / "metrics.json").write_text(json.dumps({"model": "fno", "one_step_rel_l2": 0.01}))
    constraint = tmp_path / "constraint"
    constraint.mkdir()
    (constraint / "record.json").write_text(json.dumps(
        {"kind": "constraint", "mass_error": 1e-15, "mass_error_unconstrained": 3.0}))
    inverse = tmp_path / "inverse"
    inverse.mkdir()
    (inverse / "record.json").write_text(json.dumps({"kind": "inverse", "relative_error": 2e-3, "goal": 1e-3}))
    other = tmp_path / "results"
    other.mkdir()
    (other / "metrics.json").write_text(json.dumps({"model": "unet", "one_step_rel_l2": 0.2}))
    parts = []
    for run in collect_runs([operator, constraint, inverse, other]):
        for rel, record in run.records.items():
            for part in split_parts(rel, record):
                part.run = run.name
                parts.append(part)
    rows = {r.what: r for r in front_rows(parts)}
    assert set(rows) == {"operator: fno", "constraint", "inverse", "results › metrics: unet"}
    op = rows["operator: fno"]
    assert (op.ours, op.anchor, op.goal_met, op.date, op.commit) == (
        "test_rollout_rel_l2 0.100", "persistence: 0.400", True, "2026-12-06", "abcdef01")
    mass = rows["constraint"]
    assert (mass.ours, mass.anchor, mass.goal_met) == ("mass_error 1.00e-15", "unconstrained: 3.00", True)
    assert mass.comparison.endswith("unconstrained's error")
    assert rows["inverse"].goal_met is False  # 2e-3 > the goal 1e-3


def test_demo_page_shows_parts_missing_reasons_and_attached_figures(tmp_path):
    run = tmp_path / "demo"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps(DEMO))
    _png(run / "heat_snapshots.png")
    page = render_report(collect_runs([run]), tmp_path / "report").read_text()
    assert 'id="front"' in page and "could not render" not in page
    assert "\u2014 (part skipped)" in page  # the missing mass error, with the record's reason
    reference = page[page.index("summary.json \u203a reference"):page.index("summary.json \u203a verify")]
    assert "heat_snapshots.png" in reference  # the figure sits with the part that names it
    assert '<span class="fail">FAIL</span>' in page and '<span class="pass">pass</span>' in page
    assert ">None<" not in page


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value[:50] for k in _keys(v)}
    return set()


def test_every_result_record_renders_and_no_line_is_drawn_against_a_row_index(tmp_path, monkeypatch):
    runs = collect_runs([RESULTS])
    assert not runs[0].problems
    parts = [p for rel, rec in runs[0].records.items() for p in split_parts(rel, rec)]
    assert len(parts) == len(runs[0].records) >= 70
    drawn = 0
    for part in parts:
        for spec in select_figures(part.kind, part.record):
            drawn += 1
            if spec.style == "bars":
                assert spec.reference == (1.0, "parity") and len(spec.bar_labels) == len(spec.series[0].y)
                continue
            assert spec.x_quantity in X_QUANTITIES, (part.name, spec.name)
            for series in spec.series:
                assert len(series.x) == len(series.y) >= 2
                assert series.x_source in _keys(part.record), (part.name, spec.name, series.label)
                if series.x_source.endswith(("_per_step", "_per_epoch")):  # a list kept one value per step
                    assert spec.x_quantity in ("rollout step", "epoch") and series.x[0] == 1.0
                assert all(b > a for a, b in zip(series.x, series.x[1:])), (part.name, spec.name, series.label)
    assert drawn >= 70
    kinds = {p.kind for p in parts}
    assert {"bench", "training", "solve"} <= kinds
    bench_cases = sum(len(p.record["results"]) for p in parts if p.kind == "bench")
    rows = front_rows(parts)
    assert len(rows) >= bench_cases + 40
    assert all(r.date and r.commit for r in rows)

    import pdesolve.report._render as render

    monkeypatch.setattr(render, "draw_figure", lambda spec, path: path.write_bytes(b""))  # drawing is tested above
    page = render_report(runs, tmp_path / "report").read_text()
    assert "could not render" not in page and ">None<" not in page
    assert "<h3>Figures</h3>" not in page  # each stored figure sits with its record
    mp_pde = page[page.index("mp_pde_quick.json <span"):page.index("teng_cpu_T1_allen-cahn.json <span")]
    assert "mp_pde_quick_E1_nx100.png" in mp_pde
    assert page.count("<tr>", page.index('id="front"'), page.index("</table>", page.index('id="front"'))) == len(rows) + 1
