"""Which figures a record gets, and drawing them with Matplotlib (Agg).

Every line is drawn against a quantity the record names (training step, epoch, time, rollout
step, training-set size, fit iteration); a column is never drawn against its row index. Benchmark
ratios are bars, with the parity line at 1.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ._format import is_number
from ._kinds import _SAMPLE_KEYS, _STEP_KEYS, bench_rows, result_rows, row_label

# The axes a line may be drawn against (FigureSpec.x_quantity).
X_QUANTITIES = ("training step", "epoch", "time", "rollout step", "training samples", "iteration")
_CURVE_WORDS = ("loss", "error", "rel_l2", "nrmse", "mse", "residual")


@dataclasses.dataclass
class Series:
    """One line: `y` against `x`, both from the record (never a row index).

    `x_source` names the record key the x values come from: a column (``step``, ``times``,
    ``iteration``), the total the logged values divide evenly (``steps``, ``t_final``), or a list
    recorded one value per step or epoch (``rollout_rel_l2_per_step``, ``valid_error_per_epoch``).
    """

    label: str
    x: list[float]
    y: list[float]
    x_source: str = ""


@dataclasses.dataclass
class FigureSpec:
    """One figure of the report.

    Attributes:
        name: a file-name stem, unique within its record.
        title, xlabel, ylabel: the labels.
        style: ``"line"`` (series against `x_quantity`) or ``"bars"`` (one bar per label).
        x_quantity: for lines, what the x axis is, one of :data:`X_QUANTITIES`.
        series: the lines, or for bars one series whose `x` are positions and labels `bar_labels`.
        bar_labels: the bars' names.
        xscale, yscale: ``"linear"`` or ``"log"``.
        reference: ``(value, label)``: a horizontal line (the parity line at 1, a paper's number).
    """

    name: str
    title: str
    xlabel: str
    ylabel: str
    style: str = "line"
    x_quantity: str | None = None
    series: list[Series] = dataclasses.field(default_factory=list)
    bar_labels: list[str] = dataclasses.field(default_factory=list)
    xscale: str = "linear"
    yscale: str = "linear"
    reference: tuple[float, str] | None = None


def _numbers(values: Any) -> list[float] | None:
    if isinstance(values, list) and len(values) >= 2 and all(is_number(v) for v in values):
        return [float(v) for v in values]
    return None


def _log_if_positive(series: list[Series]) -> str:
    ys = [y for s in series for y in s.y]
    return "log" if ys and any(y > 0 for y in ys) and max(ys) / max(min(y for y in ys if y > 0), 1e-300) > 20 else "linear"


def _bench_figures(record: Any) -> list[FigureSpec]:
    rows = bench_rows(record)
    if rows is None:
        return []
    labels, ratios = [], []
    for i, row in enumerate(rows):
        ratio = row.get("ratio")
        if not is_number(ratio) and is_number(row.get("anchor_s")) and is_number(row.get("ours_s")) and row["ours_s"]:
            ratio = row["anchor_s"] / row["ours_s"]
        if is_number(ratio):
            labels.append(str(row.get("name", f"case {i + 1}")))
            ratios.append(float(ratio))
    if not ratios:
        return []
    skipped = len(rows) - len(ratios)
    title = "anchor time / our time (above 1: we are faster)" + (
        f"; {skipped} case(s) without a time not shown" if skipped else "")
    return [FigureSpec(
        name="ratio", title=title, xlabel="", ylabel="ratio",
        style="bars", series=[Series("ratio", list(range(len(ratios))), ratios, "ratio")], bar_labels=labels,
        reference=(1.0, "parity"),
        xscale="log" if min(ratios) > 0 and max(ratios) / min(ratios) > 20 else "linear",
    )]


def _history_figures(record: Any) -> list[FigureSpec]:
    history = record if isinstance(record, list) else (record.get("history") if isinstance(record, dict) else None)
    if not (isinstance(history, list) and history and all(isinstance(r, dict) for r in history)):
        return []
    x_key = "step" if all(is_number(r.get("step")) for r in history) else (
        "epoch" if all(is_number(r.get("epoch")) for r in history) else None)
    if x_key is None or len(history) < 2:
        return []
    x = [float(r[x_key]) for r in history]
    keys = [k for k in dict.fromkeys(k for r in history for k in r)
            if k not in ("step", "epoch") and any(w in k for w in _CURVE_WORDS)]
    specs = []
    for group, words in (("loss", ("loss",)), ("error", ("error", "rel_l2", "nrmse", "mse", "residual"))):
        series = []
        for k in keys:
            if any(w in k for w in words) and not (group == "error" and "loss" in k):
                ys = [r.get(k) for r in history]
                points = [(xi, float(y)) for xi, y in zip(x, ys) if is_number(y)]
                if len(points) >= 2:
                    series.append(Series(k, [p[0] for p in points], [p[1] for p in points], x_key))
        if series:
            quantity = "training step" if x_key == "step" else "epoch"
            specs.append(FigureSpec(
                name=f"history_{group}", title=f"training {group}", xlabel=quantity, ylabel=group,
                x_quantity=quantity, series=series, yscale=_log_if_positive(series)))
    return specs


def _curve_figures(record: Any) -> list[FigureSpec]:
    curve = record.get("curve") if isinstance(record, dict) else None
    if not (isinstance(curve, list) and len(curve) >= 2 and all(isinstance(r, dict) for r in curve)):
        return []
    if not all(is_number(r.get("iteration")) for r in curve):
        return []
    series = []
    for k in dict.fromkeys(k for r in curve for k in r):
        if any(w in k for w in _CURVE_WORDS):
            points = [(float(r["iteration"]), float(r[k])) for r in curve if is_number(r.get(k))]
            if len(points) >= 2:
                series.append(Series(k, [p[0] for p in points], [p[1] for p in points], "iteration"))
    if not series:
        return []
    return [FigureSpec(name="fit_curve", title="fit: residual against iteration", xlabel="iteration",
                       ylabel="relative residual", x_quantity="iteration", series=series,
                       yscale=_log_if_positive(series))]


def _logged_loss_figures(record: Any) -> list[FigureSpec]:
    if not isinstance(record, dict):
        return []
    series = []
    for i, row in enumerate(result_rows(record)):
        losses = _numbers(row.get("logged_losses"))
        steps = row.get("steps", record.get("steps"))
        if losses is None or not is_number(steps):
            continue  # without the step count the x axis would be a row index
        every = float(steps) / len(losses)
        series.append(Series(row_label(row, f"run {i + 1}"), [every * (j + 1) for j in range(len(losses))], losses, "steps"))
    epochs = []
    for i, row in enumerate(result_rows(record)):
        errors = _numbers(row.get("valid_error_per_epoch"))
        if errors is not None:
            epochs.append(Series(row_label(row, f"run {i + 1}"), [float(j + 1) for j in range(len(errors))], errors,
                                 "valid_error_per_epoch"))
    specs = []
    if series:
        specs.append(FigureSpec(name="loss", title="training loss (logged)", xlabel="training step", ylabel="loss",
                                x_quantity="training step", series=series, yscale=_log_if_positive(series)))
    if epochs:
        specs.append(FigureSpec(name="valid_error", title="validation error per epoch", xlabel="epoch",
                                ylabel="validation error", x_quantity="epoch", series=epochs,
                                yscale=_log_if_positive(epochs)))
    return specs


def _rollout_figures(record: Any) -> list[FigureSpec]:
    """Per-step rollout error (``rollout_rel_l2_per_step``): error against the rollout step."""
    if not isinstance(record, dict):
        return []
    series = []
    for key, value in record.items():
        errors = _numbers(value)
        if errors is not None and key.endswith("_per_step") and any(w in key for w in _CURVE_WORDS):
            series.append(Series(key, [float(j + 1) for j in range(len(errors))], errors, key))
    if not series:
        return []
    return [FigureSpec(name="rollout", title="test error along the rollout", xlabel="rollout step (model steps)",
                       ylabel="relative L2", x_quantity="rollout step", series=series)]


def _time_figures(record: Any) -> list[FigureSpec]:
    """Error against time: rows with ``times`` and ``errors``, or ``rel_l2_by_time`` over ``[0, t_final]``."""
    if not isinstance(record, dict) and not isinstance(record, list):
        return []
    groups: dict[str, list[Series]] = {}
    for i, row in enumerate(result_rows(record)):
        times, errors = _numbers(row.get("times")), _numbers(row.get("errors"))
        if times is not None and errors is not None and len(times) == len(errors):
            label = str(row.get("method") or row.get("model") or row.get("name") or f"run {i + 1}")
            groups.setdefault(str(row.get("problem", "")), []).append(Series(label, times, errors, "times"))
    t_key = next((k for k in ("t_final", "final_time") if isinstance(record, dict) and k in record), "")
    t_final = record.get(t_key) if t_key else None
    if is_number(t_final):
        rows = [*result_rows(record)]
        if isinstance(record.get("persistence"), dict):
            rows.append({"model": "persistence", **record["persistence"]})
        for i, row in enumerate(rows):
            errors = _numbers(row.get("rel_l2_by_time"))
            if errors is not None:
                times = [float(t_final) * j / (len(errors) - 1) for j in range(len(errors))]
                groups.setdefault("", []).append(Series(row_label(row, f"run {i + 1}"), times, errors, t_key))
    specs = []
    for j, (problem, series) in enumerate(groups.items()):
        specs.append(FigureSpec(
            name=f"error_time_{j}", title=f"error against time{': ' + problem if problem else ''}",
            xlabel="time", ylabel="relative L2 error", x_quantity="time", series=series,
            yscale=_log_if_positive(series)))
    return specs


def _paper_value(row: dict, record: Any) -> float | None:
    for key in ("paper", "paper_error", "error_paper", "anchor_error", "error_anchor"):
        for source in (row, record if isinstance(record, dict) else {}):
            if is_number(source.get(key)):
                return float(source[key])
    return None


def _learning_curve_figures(record: Any) -> list[FigureSpec]:
    """Log-log error against the training-set size, and against optimizer steps where rows record them.

    Rows without a step count form one series per ``model``/``method``. Rows with one (``steps``
    or ``train_steps``) are grouped: against samples, a series per label and step count (the
    nominal ``steps_requested`` where a row gives it); against steps, a series per label and
    sample count; a group needs two distinct x values.
    """
    rows = result_rows(record)
    x_key = next((k for k in _SAMPLE_KEYS if all(is_number(r.get(k)) for r in rows)), None)
    if x_key is None or len(rows) < 2:
        return []
    y_key = next((k for k in ("error", "test_error", "rel_l2", "relative_l2", "test_rel_l2", "error_ours")
                  if all(is_number(r.get(k)) for r in rows)), None)
    if y_key is None:
        return []
    step_key = next((k for k in _STEP_KEYS if all(is_number(r.get(k)) for r in rows)), None)
    paper = _paper_value({}, record)
    reference = None if paper is None else (paper, "paper")
    specs = []
    for against, fixed, quantity, name in ((x_key, step_key, "training samples", "learning_curve"),
                                           (step_key, x_key, "training step", "learning_curve_steps")):
        if against is None:
            continue
        groups: dict[str, list[tuple[float, float]]] = {}
        for row in rows:
            label = str(row.get("model") or row.get("method") or y_key)
            if fixed is not None:  # a row may name the nominal step count it ran for (whole epochs may differ)
                value = row.get("steps_requested", row[fixed]) if fixed == step_key else row[fixed]
                label += f", {value:g} {'steps' if fixed == step_key else 'samples'}"
            groups.setdefault(label, []).append((float(row[against]), float(row[y_key])))
        series = [Series(k, [p[0] for p in sorted(v)], [p[1] for p in sorted(v)], against)
                  for k, v in groups.items() if fixed is None or len({p[0] for p in v}) >= 2]
        if series:
            specs.append(FigureSpec(
                name=name, title=f"learning curve: error against {quantity}", xlabel=f"{quantity} ({against})",
                ylabel=y_key, x_quantity=quantity, series=series, xscale="log", yscale="log", reference=reference))
    return specs


def select_figures(kind: str, record: Any) -> list[FigureSpec]:
    """The figures for one record of `kind` (see :func:`record_kind`).

    Benchmarks get a ratio bar chart with the parity line at 1; learning curves log-log error
    against the training-set size with the paper's number marked; any record gets its training
    curves (loss and error against step or epoch, a fit's residual against iteration) and its
    error against time where it records them. Tables (``"table"`` and unknown kinds) get none.
    """
    if kind == "bench":
        return _bench_figures(record)
    if kind == "verification":
        return []
    if kind == "learning_curve":
        return _learning_curve_figures(record)
    if kind not in ("training", "solve", "inverse", "constraint", "dataset"):
        return []
    specs = [*_history_figures(record), *_curve_figures(record), *_logged_loss_figures(record),
             *_rollout_figures(record), *_time_figures(record)]
    return specs


def draw_figure(spec: FigureSpec, path: Path) -> Path:
    """Draw `spec` into the PNG file `path` (Matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if spec.style == "bars":
        ratios = spec.series[0].y
        height = max(2.0, 0.28 * len(ratios) + 1.0)
        fig, ax = plt.subplots(figsize=(7, height))
        positions = list(range(len(ratios)))
        colors = ["#2a7" if r >= 1 else "#c63" for r in ratios]
        if spec.xscale == "log":  # bars grow from the parity line, left for slower, right for faster
            ax.barh(positions, [abs(r - 1) for r in ratios], left=[min(r, 1.0) for r in ratios], color=colors)
            ax.set_xscale("log")
        else:
            ax.barh(positions, ratios, color=colors)
        ax.set_yticks(positions)
        ax.set_yticklabels(spec.bar_labels, fontsize=7)
        ax.invert_yaxis()
        if spec.reference is not None:
            ax.axvline(spec.reference[0], color="k", linestyle="--", linewidth=1, label=spec.reference[1])
            ax.legend(fontsize=7, loc="best")
        ax.set_xlabel(spec.ylabel)
    else:
        fig, ax = plt.subplots(figsize=(6, 3.4))
        for s in spec.series:
            points = [(x, y) for x, y in zip(s.x, s.y) if spec.yscale != "log" or y > 0]
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="." if len(points) <= 30 else None,
                    label=s.label)
        if spec.reference is not None:
            ax.axhline(spec.reference[0], color="k", linestyle="--", linewidth=1, label=spec.reference[1])
        ax.set_xscale(spec.xscale)
        ax.set_yscale(spec.yscale)
        ax.set_xlabel(spec.xlabel)
        ax.set_ylabel(spec.ylabel)
        if len(spec.series) > 1 or spec.reference is not None:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    ax.set_title(spec.title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
