"""Numbers and values as a reader wants them: three significant digits, units, a reason for gaps."""

from __future__ import annotations

import html
import math
import re
from numbers import Number
from typing import Any

MISSING = "\u2014"  # an em dash
_LONG_TEXT = 80

_MB = ("MB", 1e-6)
_SECONDS = ("s", 1.0)
_PER_SECOND = ("/s", 1.0)
_TIMES = ("\u00d7", 1.0)


def unit_of(key: str | None) -> tuple[str, float]:
    """The unit a record key implies and the factor to it: `wall_s` is seconds, `peak_bytes` MB,
    `samples_per_s_ours` per second, `ratio` and `*_speedup` a factor (x).

    Returns ``("", 1.0)`` for a key without a known unit.
    """
    key = (key or "").lower()
    if "bytes" in key:
        return _MB
    if re.search(r"_per_s(_|$)", key):
        return _PER_SECOND
    if "_s_per_" in key or "seconds" in key or key.endswith("_s"):
        return _SECONDS
    if key.endswith(("ratio", "speedup")):
        return _TIMES
    return "", 1.0


def is_number(value: Any) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


def sig3(value: float) -> str:
    """`value` to three significant digits: ``0.00368``, ``1.92``, ``1610``, ``1.25e-05``."""
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if -3 <= magnitude < 3:
        text = f"{value:.{max(0, 2 - magnitude)}f}"
        return text
    if 3 <= magnitude < 6:
        return str(int(round(value, 2 - magnitude)))
    return f"{value:.2e}"


def format_number(value: Any, key: str | None = None) -> str:
    """Plain text for one number, with the unit its key implies (integers stay exact)."""
    unit, scale = unit_of(key)
    if isinstance(value, int) and scale == 1.0:
        text = str(value)
    else:
        text = sig3(value * scale)
    if not unit:
        return text
    return f"{text}{unit}" if unit == "\u00d7" else f"{text} {unit}"


def missing_reason(container: Any, key: str | None) -> str | None:
    """Why `container[key]` is missing, where the record says: ``KEY_reason``, ``reasons[KEY]``, ``reason``."""
    if not isinstance(container, dict) or key is None:
        return None
    for candidate in (f"{key}_reason", f"{key}_note"):
        if isinstance(container.get(candidate), str):
            return container[candidate]
    for mapping in ("reasons", "missing"):
        reasons = container.get(mapping)
        if isinstance(reasons, dict) and isinstance(reasons.get(key), str):
            return reasons[key]
    if isinstance(container.get("reason"), str):
        return container["reason"]
    return None


def format_cell(value: Any, key: str | None = None, container: Any = None) -> str:
    """HTML for one table cell: numbers to three significant digits with units, ``—`` for a
    missing value (followed by the record's reason where it gives one), short summaries of lists
    and mappings, long text shortened with the full text in a tooltip."""
    if value is None:
        reason = missing_reason(container, key)
        if reason:
            return f'<span class="missing">{MISSING} ({html.escape(reason)})</span>'
        return f'<span class="missing">{MISSING}</span>'
    if isinstance(value, bool):
        return "yes" if value else "no"
    if is_number(value):
        return html.escape(format_number(value, key))
    if isinstance(value, list):
        if value and all(is_number(v) for v in value) and len(value) <= 4:
            return html.escape(", ".join(format_number(v, key) for v in value))
        if value and all(isinstance(v, str) for v in value) and len(value) <= 6:
            return _text(", ".join(value))
        return f"[{len(value)} values]"
    if isinstance(value, dict):
        if len(value) <= 4 and all(not isinstance(v, (dict, list)) for v in value.values()):
            # `{"hard": 0.28, "moe": 0.017}` under `solve_only_seconds` takes the parent's unit.
            return "; ".join(
                f"{html.escape(str(k))}: {format_cell(v, str(k) if unit_of(str(k))[0] else key, value)}"
                for k, v in value.items())
        return f"{{{len(value)} entries}}"
    return _text(str(value))


def _text(text: str) -> str:
    if len(text) <= _LONG_TEXT:
        return html.escape(text)
    return f'<span title="{html.escape(text)}">{html.escape(text[: _LONG_TEXT - 1])}\u2026</span>'
