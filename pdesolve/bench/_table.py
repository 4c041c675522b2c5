"""Plain-text rendering of benchmark results."""

from __future__ import annotations

import math

# (key, header, kind); kind picks the number format and the alignment.
_COLUMNS = (
    ("name", "name", "text"),
    ("order", "order", "text"),
    ("ours_s", "ours_s", "seconds"),
    ("anchor", "anchor", "text"),
    ("anchor_s", "anchor_s", "seconds"),
    ("ratio", "ratio", "ratio"),
    ("error_ours", "error_ours", "error"),
    ("error_anchor", "error_anchor", "error"),
)


def _cell(value, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "text":
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return str(number)
    if kind == "seconds":
        return f"{number:.3f}" if number >= 0.01 else f"{number:.2e}"
    if kind == "ratio":
        return f"{number:.2f}"
    return f"{number:.2e}"


def format_table(result: dict) -> str:
    """Render ``run_reference_benchmark``'s result as an aligned text table.

    Columns: name, order, ours_s, anchor, anchor_s, ratio (= anchor_s / ours_s, above 1 means
    pdesolve is faster), error_ours, error_anchor. Missing values show as ``-``; skipped anchors,
    the device and the notes follow the table.
    """
    rows = result.get("results", [])
    columns = [c for c in _COLUMNS if c[0] != "order" or any("order" in r for r in rows)]
    cells = [[_cell(row.get(key), kind) for key, _, kind in columns] for row in rows]
    widths = [
        max([len(header)] + [len(line[i]) for line in cells]) for i, (_, header, _) in enumerate(columns)
    ]

    def render(values) -> str:
        parts = []
        for (_, _, kind), width, value in zip(columns, widths, values):
            parts.append(value.ljust(width) if kind == "text" else value.rjust(width))
        return "  ".join(parts).rstrip()

    lines = [render([header for _, header, _ in columns])]
    lines.append("  ".join("-" * width for width in widths))
    lines.extend(render(line) for line in cells)

    footer = []
    if "device" in result or "dtype" in result:
        footer.append(f"device: {result.get('device', '?')}, dtype: {result.get('dtype', '?')}")
    if "repeats" in result:
        runs = sorted({row["timed_runs"] for row in rows if row.get("timed_runs")})
        spread = f" ({'/'.join(str(r) for r in runs)} per case)" if runs else ""
        footer.append(
            f"timing: best of >= {result['repeats']} interleaved runs per side{spread} after a warm-up; "
            "ratio = anchor_s / ours_s (> 1: pdesolve faster)"
        )
    check = result.get("mapping_check") or {}
    if "mapped_rel_diff" in check:
        footer.append(
            f"sign mapping ({check.get('mapping', '')}): exponax vs pdesolve after {check.get('steps')} steps "
            f"differ by {check['mapped_rel_diff']:.1e} (unmapped: {check.get('unmapped_rel_diff', float('nan')):.2f})"
        )
    for row in rows:
        if row.get("skipped"):
            footer.append(f"{row.get('name')}: anchor skipped: {row['skipped']}")
    for note in result.get("notes", []) or []:
        footer.append(f"note: {note}")
    if footer:
        lines.append("")
        lines.extend(footer)
    return "\n".join(lines)
