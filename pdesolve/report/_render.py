"""Render collected runs as one static HTML page with its figures beside it."""

from __future__ import annotations

import html
import json
import shutil
from numbers import Number
from pathlib import Path
from typing import Any

from .._version import __version__
from ._collect import RunRecord

# Columns of a benchmark table, in this order; other keys follow.
_BENCH_COLUMNS = ("name", "ours_s", "anchor", "anchor_s", "ratio", "error_ours", "error_anchor")
_MAX_ROWS = 200


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return html.escape(str(value))
    if isinstance(value, Number):
        value = float(value)
        if value == int(value) and abs(value) < 1e9:
            return str(int(value))
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, default=str)
        return html.escape(text if len(text) <= 80 else text[:77] + "...")
    return html.escape(str(value))


def _table(rows: list[dict], first: tuple[str, ...] = ()) -> str:
    columns = [c for c in first if any(c in r for r in rows)]
    for row in rows:
        columns += [k for k in row if k not in columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_fmt(row.get(c, ''))}</td>" for c in columns) + "</tr>"
        for row in rows[:_MAX_ROWS]
    )
    more = f"<p>({len(rows) - _MAX_ROWS} more rows not shown)</p>" if len(rows) > _MAX_ROWS else ""
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def _is_series(value: Any) -> bool:
    return isinstance(value, list) and len(value) >= 2 and all(
        isinstance(v, Number) and not isinstance(v, bool) for v in value
    )


def _series(record: Any, prefix: str = "") -> dict[str, list[float]]:
    """Numeric sequences (loss and error curves) in a JSON record, by dotted key."""
    found: dict[str, list[float]] = {}
    if isinstance(record, dict):
        for key, value in record.items():
            name = f"{prefix}{key}"
            if _is_series(value):
                found[name] = [float(v) for v in value]
            elif isinstance(value, dict):
                found.update(_series(value, name + "."))
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                keys = {k for v in value for k, x in v.items() if isinstance(x, Number) and not isinstance(x, bool)}
                for k in sorted(keys):
                    column = [v.get(k) for v in value]
                    if all(isinstance(x, Number) for x in column) and len(column) >= 2:
                        found[f"{name}.{k}"] = [float(x) for x in column]
    return found


def _plot_curves(curves: dict[str, list[float]], path: Path, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return False
    fig, ax = plt.subplots(figsize=(6, 3.5))
    positive = all(min(v) > 0 for v in curves.values())
    for name, values in curves.items():
        ax.plot(range(len(values)), values, label=name)
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("index")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _record_html(run: RunRecord, rel: str, record: Any, assets: Path, asset_url: str) -> str:
    parts = [f"<h3>{html.escape(rel)}</h3>"]
    if isinstance(record, dict) and isinstance(record.get("results"), list) and all(
        isinstance(r, dict) for r in record["results"]
    ):
        parts.append(_table(record["results"], _BENCH_COLUMNS))
        rest = {k: v for k, v in record.items() if k != "results" and not isinstance(v, (dict, list))}
        if rest:
            parts.append(_table([rest]))
    elif isinstance(record, list) and record and all(isinstance(r, dict) for r in record):
        parts.append(_table(record, ("case", "resolution", "error", "tolerance", "order", "passed")))
    elif isinstance(record, dict):
        scalars = {k: v for k, v in record.items() if not isinstance(v, (dict, list))}
        if scalars:
            parts.append(_table([scalars]))
    curves = _series(record)
    if curves:
        name = rel.replace("/", "_").rsplit(".", 1)[0] + "_curves.png"
        if _plot_curves(curves, assets / name, f"{run.name}: {rel}"):
            parts.append(f'<img src="{asset_url}/{html.escape(name)}" alt="curves of {html.escape(rel)}">')
    return "\n".join(parts)


_STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f0f0f0; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.3em 0; }
pre { background: #f7f7f7; padding: 0.5em; overflow-x: auto; font-size: 0.8em; }
.problem { color: #a00; }
section { border-top: 2px solid #888; margin-top: 2em; }
"""


def render_report(runs: list[RunRecord], out: str | Path, title: str = "pdesolve results") -> Path:
    """Write ``out/index.html`` (and ``out/assets/``) for ``runs``; returns the page's path.

    Each run gets a section with its pdesolve version and configuration, a table per JSON
    record (benchmark ``results`` side by side with their anchors, verification cases, scalar
    summaries), plots of the numeric sequences it recorded (loss and error curves), and its
    figures (copied next to the page, so the folder is self-contained).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sections, index = [], []
    for i, run in enumerate(runs):
        anchor = f"run-{i}"
        asset_url = f"assets/{i}-{run.name}"
        assets = out / asset_url
        assets.mkdir(parents=True, exist_ok=True)
        body = [
            f'<section id="{anchor}"><h2>{html.escape(run.name)}</h2>',
            f"<p>from <code>{html.escape(str(run.path))}</code>; pdesolve version "
            f"{html.escape(run.version or 'not recorded')}</p>",
        ]
        if run.config is not None:
            body.append(
                "<details><summary>configuration</summary><pre>"
                + html.escape(json.dumps(run.config, indent=2, default=str))
                + "</pre></details>"
            )
        for problem in run.problems:
            body.append(f'<p class="problem">{html.escape(problem)}</p>')
        for rel, record in run.records.items():
            body.append(_record_html(run, rel, record, assets, asset_url))
        root = run.path.parent if run.path.is_file() else run.path
        for rel in run.images:
            target = assets / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / rel, target)
            body.append(f"<h3>{html.escape(rel)}</h3><img src=\"{html.escape(asset_url + '/' + rel)}\" alt=\"{html.escape(rel)}\">")
        body.append("</section>")
        sections.append("\n".join(body))
        index.append(f'<li><a href="#{anchor}">{html.escape(run.name)}</a></li>')
    page = (
        f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>Rendered by pdesolve {html.escape(__version__)} from {len(runs)} run(s).</p>"
        f"<ul>{''.join(index)}</ul>{''.join(sections)}</body></html>"
    )
    page_path = out / "index.html"
    page_path.write_text(page)
    return page_path
