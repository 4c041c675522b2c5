"""Browsable results report: collect the JSON and figures that runs write, render static HTML.

``pdesolve report RUN_DIR... --out report/`` is the command-line entry point. The page opens
with a front table of every benchmark and reproduction against its anchor, then shows each
record by its kind (:func:`record_kind`) with the figures :func:`select_figures` picks.
"""

from ._collect import RunRecord as RunRecord
from ._collect import collect_runs as collect_runs
from ._figures import FigureSpec as FigureSpec
from ._figures import Series as Series
from ._figures import X_QUANTITIES as X_QUANTITIES
from ._figures import select_figures as select_figures
from ._format import format_number as format_number
from ._front import FrontRow as FrontRow
from ._front import front_rows as front_rows
from ._kinds import KINDS as KINDS
from ._kinds import Part as Part
from ._kinds import record_kind as record_kind
from ._kinds import split_parts as split_parts
from ._render import render_report as render_report

__all__ = [
    "KINDS", "X_QUANTITIES", "FigureSpec", "FrontRow", "Part", "RunRecord", "Series", "collect_runs",
    "format_number", "front_rows", "record_kind", "render_report", "select_figures", "split_parts",
]
