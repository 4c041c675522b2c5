"""Render collected runs as one static HTML page with its figures beside it."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path
from typing import Any

from .._version import __version__
from ._collect import RunRecord
from ._figures import draw_figure, select_figures
from ._format import MISSING, format_cell
from ._front import FrontRow, front_rows
from ._kinds import PROVENANCE_KEYS, Part, bench_rows, split_parts, verification_rows

# Columns of a benchmark table, in this order; other keys follow.
_BENCH_COLUMNS = ("name", "ours_s", "anchor", "anchor_s", "ratio", "error_ours", "error_anchor")
_VERIFY_COLUMNS = ("case", "resolution", "error", "tolerance", "order", "passed")
_MAX_ROWS = 200
_KIND_TITLES = {
    "verification": "verification", "bench": "benchmark", "training": "training", "solve": "solve",
    "learning_curve": "learning curve", "dataset": "dataset", "inverse": "inverse problem",
    "constraint": "hard constraint", "report": "report", "table": "record",
}


def _columns(rows: list[dict], first: tuple[str, ...] = ()) -> list[str]:
    columns = [c for c in first if any(c in r for r in rows)]
    for row in rows:
        columns += [k for k in row if k not in columns and not _is_series(row[k], k)]
    return columns


_SERIES_KEYS = ("times", "errors", "logged_losses", "curve", "history")


def _is_series(value: Any, key: str = "") -> bool:
    """Sequences drawn as figures (or too long for a cell) rather than tabulated."""
    return isinstance(value, list) and (len(value) > 6 or (len(value) >= 2 and (
        key in _SERIES_KEYS or key.endswith(("_by_time", "_per_step", "_per_epoch")))))


def _table(rows: list[dict], first: tuple[str, ...] = (), cell=None) -> str:
    columns = _columns(rows, first)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    cell = cell or (lambda row, c: format_cell(row.get(c), c, row) if c in row else "")
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(row, c)}</td>" for c in columns) + "</tr>" for row in rows[:_MAX_ROWS]
    )
    more = f"<p>({len(rows) - _MAX_ROWS} more rows not shown)</p>" if len(rows) > _MAX_ROWS else ""
    series = sorted({k for r in rows for k, v in r.items() if _is_series(v, k)})
    note = (f'<p class="note">sequences not tabulated: {html.escape(", ".join(series))}</p>' if series else "")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{more}{note}'


def _key_values(record: dict, skip=()) -> str:
    """Scalars of a record as a grid of key/value pairs that wraps to the page width; nested
    mappings (configuration, settings) folded into <details>; provenance folded too."""
    pairs, provenance, nested = [], [], []
    for key, value in record.items():
        if key in skip:
            continue
        if isinstance(value, dict) and value and not (len(value) <= 4 and all(
                not isinstance(v, (dict, list)) for v in value.values())):
            nested.append((key, value))
        elif _is_series(value, key) or (isinstance(value, list) and value and all(isinstance(v, dict) for v in value)):
            continue
        else:
            pair = (f'<div class="pair"><span class="k">{html.escape(str(key))}</span> '
                    f'<span class="v">{format_cell(value, key, record)}</span></div>')
            (provenance if key in PROVENANCE_KEYS or key == "provenance_note" else pairs).append(pair)
    out = f'<div class="kv">{"".join(pairs)}</div>' if pairs else ""
    if provenance:
        out += f'<details><summary>provenance</summary><div class="kv">{"".join(provenance)}</div></details>'
    for key, value in nested:
        out += (f"<details><summary>{html.escape(str(key))}</summary>"
                + _key_values(value) + "</details>")
    return out


def _verification_html(cases: list[dict]) -> str:
    def cell(row, c):
        if c == "passed":
            return '<span class="pass">pass</span>' if row.get(c) else '<span class="fail">FAIL</span>'
        return format_cell(row.get(c), c, row) if c in row else ""

    return _table(cases, _VERIFY_COLUMNS, cell)


def _part_tables(part: Part) -> str:
    record = part.record
    cases = verification_rows(record)
    if cases is not None:
        out = _verification_html(cases)
        if isinstance(record, dict):
            out += _key_values(record, skip=("cases", "results", "verify", "table", "kind"))
        return out
    rows = bench_rows(record)
    if rows is not None:
        return _table(rows, _BENCH_COLUMNS) + _key_values(record, skip=("results",))
    if isinstance(record, list):
        if record and all(isinstance(r, dict) for r in record):
            if part.kind == "training" and len(record) > 12:
                return (f"<details><summary>history ({len(record)} rows)</summary>{_table(record)}</details>"
                        + "<p>last row:</p>" + _table(record[-1:]))
            return _table(record)
        return f"<pre>{html.escape(json.dumps(record, default=str)[:2000])}</pre>"
    if not isinstance(record, dict):
        return f"<p>{format_cell(record)}</p>"
    out = ""
    if isinstance(record.get("results"), list) and record["results"] and all(isinstance(r, dict) for r in record["results"]):
        out += _table(record["results"], ("problem", "method", "model", "experiment", "name"))
    return out + _key_values(record, skip=("results", "kind"))


def _mentions(value: Any, names: set[str]) -> set[str]:
    found = set()
    if isinstance(value, str):
        found |= {n for n in names if n in value}
    elif isinstance(value, dict):
        for v in value.values():
            found |= _mentions(v, names)
    elif isinstance(value, list):
        for v in value[:200]:
            found |= _mentions(v, names)
    return found


def _attach_images(run: RunRecord, parts: list[Part]) -> tuple[dict[int, list[str]], list[str]]:
    """Figures next to a JSON file go with it: ``x_fields.png`` with ``x.json`` (the longest JSON
    stem that prefixes the figure's), or with the part that names the file; the rest stay loose."""
    attached: dict[int, list[str]] = {}
    loose = []
    stems = {j: p.source.rsplit(".", 1)[0] for j, p in enumerate(parts)}
    for image in run.images:
        stem = image.rsplit(".", 1)[0]
        mentioned = [j for j, p in enumerate(parts) if _mentions(p.record, {Path(image).name})]
        if mentioned:
            attached.setdefault(mentioned[0], []).append(image)
            continue
        matches = [j for j, s in stems.items() if stem.startswith(s) and Path(s).name != "summary"]
        # A part `summary.json › heat` of a split summary takes `heat_snapshots.png` beside it.
        matches += [j for j, p in enumerate(parts) if " \u203a " in p.name and Path(stem).name.startswith(
            p.name.rsplit(" \u203a ", 1)[1] + "_") and Path(image).parent == Path(p.source).parent]
        if not matches:  # `mp_pde_E1_nx100.png` beside `mp_pde_quick.json`: a unique shared prefix
            shared = {j: _shared_tokens(stem, s) for j, s in stems.items() if Path(s).parent == Path(stem).parent}
            best = max(shared.values(), default=0)
            if best >= 2 and list(shared.values()).count(best) == 1:
                matches = [j for j, n in shared.items() if n == best]
        if matches:
            best = max(matches, key=lambda j: len(stems[j]))
            attached.setdefault(best, []).append(image)
        else:
            loose.append(image)
    return attached, loose


def _shared_tokens(a: str, b: str) -> int:
    """How many leading ``_``-separated words the file names `a` and `b` share."""
    count = 0
    for x, y in zip(Path(a).name.split("_"), Path(b).name.split("_")):
        if x != y:
            break
        count += 1
    return count


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:80] or "record"


def _front_html(rows: list[FrontRow], ids: dict[int, str]) -> str:
    if not rows:
        return "<p>No benchmark or reproduction records with a number to compare.</p>"
    body = []
    for r in rows:
        goal = {True: '<span class="pass">met</span>', False: '<span class="fail">not met</span>',
                None: f'<span class="missing">{MISSING}</span>'}[r.goal_met]
        when = " ".join(x for x in (r.date, f"<code>{html.escape(r.commit)}</code>" if r.commit else "") if x)
        body.append(
            f"<tr><td>{html.escape(r.what)}</td><td>{html.escape(r.ours)}</td><td>{html.escape(r.anchor)}</td>"
            f"<td>{html.escape(r.comparison)}</td><td>{goal}</td><td>{when or MISSING}</td>"
            f'<td><a href="#{ids[id(r.part)]}">details</a></td></tr>')
    head = "".join(f"<th>{h}</th>" for h in ("what", "ours", "anchor or paper", "ratio or gap", "goal",
                                               "date, commit", "detail"))
    return (f'<div class="scroll front"><table id="front"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


_STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
.scroll { max-width: 100%; overflow-x: auto; margin: 0.5em 0 1em; }
.front { max-height: 75vh; overflow-y: auto; border: 1px solid #ddd; }
.front thead th { position: sticky; top: 0; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; vertical-align: top;
         max-width: 28em; overflow-wrap: break-word; }
th { background: #f0f0f0; }
td:first-child, th:first-child { text-align: left; }
.kv { display: grid; grid-template-columns: repeat(auto-fill, minmax(17em, 1fr)); gap: 1px 1em;
      font-size: 0.85em; margin: 0.5em 0; }
.kv .pair { overflow-wrap: break-word; border-bottom: 1px dotted #ddd; }
.kv .k { color: #555; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.3em 0; }
pre { background: #f7f7f7; padding: 0.5em; overflow-x: auto; font-size: 0.8em; }
.problem, .fail { color: #a00; font-weight: bold; }
.pass { color: #070; }
.missing { color: #888; }
.note { color: #666; font-size: 0.8em; }
.kind { font-size: 0.7em; background: #eef; border-radius: 3px; padding: 1px 5px; vertical-align: middle; }
section.run { border-top: 2px solid #888; margin-top: 2em; }
section.part { margin-left: 0.5em; }
"""


def render_report(runs: list[RunRecord], out: str | Path, title: str = "pdesolve results") -> Path:
    """Write ``out/index.html`` (and ``out/assets/``) for ``runs``; returns the page's path.

    The page opens with the front table (every benchmark and reproduction, one row each: what,
    ours, the anchor or paper number, the ratio or gap, goal met, date and commit, a link to the
    detail). Each JSON record (each part of a multi-part summary) then gets the view of its kind
    (:func:`record_kind`): verification as a pass/fail table, benchmarks as a table and a ratio
    bar chart with the parity line at 1, training as loss and error curves against steps, solves
    as error against time and the field snapshots stored beside the JSON, learning curves on
    log-log axes with the paper's number marked, anything else as a tidy table. Numbers have
    three significant digits and units; missing values show as ``—`` with the record's reason.
    Figures are copied next to the page, so the folder is self-contained.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sections, index, all_parts, ids = [], [], [], {}
    plan = []
    for i, run in enumerate(runs):
        parts = [p for rel, record in run.records.items() for p in split_parts(rel, record)]
        for part in parts:
            part.run = run.name
        for j, part in enumerate(parts):
            ids[id(part)] = f"r{i}-{j}"
        all_parts.extend(parts)
        plan.append((i, run, parts))
    rows = front_rows(all_parts)
    for i, run, parts in plan:
        asset_url = f"assets/{i}-{_slug(run.name)}"
        assets = out / asset_url
        assets.mkdir(parents=True, exist_ok=True)
        root = run.path.parent if run.path.is_file() else run.path
        attached, loose = _attach_images(run, parts)
        body = [
            f'<section class="run" id="run-{i}"><h2>{html.escape(run.name)}</h2>',
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
        for j, part in enumerate(parts):
            body.append(_part_html(part, ids[id(part)], attached.get(j, []), root, assets, asset_url))
        if loose:
            body.append("<h3>Figures</h3>")
            for rel in loose:
                body.append(_image_html(rel, root, assets, asset_url))
        body.append("</section>")
        sections.append("\n".join(body))
        index.append(f'<li><a href="#run-{i}">{html.escape(run.name)}</a> ({len(parts)} record(s))</li>')
    page = (
        f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>Rendered by pdesolve {html.escape(__version__)} from {len(runs)} run(s). Ratios of times are "
        "anchor / ours (above 1: we are faster); gaps of errors are ours / anchor (below 1: we are more "
        "accurate).</p>"
        f"<h2>Benchmarks and reproductions</h2>{_front_html(rows, ids)}"
        f"<h2>Runs</h2><ul>{''.join(index)}</ul>{''.join(sections)}</body></html>"
    )
    page_path = out / "index.html"
    page_path.write_text(page)
    return page_path


def _image_html(rel: str, root: Path, assets: Path, asset_url: str) -> str:
    target = assets / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / rel, target)
    return (f"<figure><img src=\"{html.escape(asset_url + '/' + rel)}\" alt=\"{html.escape(rel)}\">"
            f"<figcaption class=\"note\">{html.escape(rel)}</figcaption></figure>")


def _part_html(part: Part, anchor: str, images: list[str], root: Path, assets: Path, asset_url: str) -> str:
    kind = _KIND_TITLES.get(part.kind, part.kind)
    parts = [f'<section class="part" id="{anchor}"><h3>{html.escape(part.name)} '
             f'<span class="kind">{html.escape(kind)}</span></h3>']
    try:
        parts.append(_part_tables(part))
        for spec in select_figures(part.kind, part.record):
            name = f"{_slug(anchor + '_' + part.name)}_{spec.name}.png"
            draw_figure(spec, assets / name)
            parts.append(f'<img src="{html.escape(asset_url)}/{html.escape(name)}" alt="{html.escape(spec.title)}">')
    except Exception as err:  # one odd record must not cost the whole page
        parts.append(f'<p class="problem">could not render this record ({type(err).__name__}: '
                     f"{html.escape(str(err))})</p>")
    for rel in images:
        parts.append(_image_html(rel, root, assets, asset_url))
    parts.append("</section>")
    return "\n".join(parts)

