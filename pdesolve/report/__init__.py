"""Browsable results report: collect the JSON and figures that runs write, render static HTML.

``pdesolve report RUN_DIR... --out report/`` is the command-line entry point.
"""

from ._collect import RunRecord as RunRecord
from ._collect import collect_runs as collect_runs
from ._render import render_report as render_report

__all__ = ["RunRecord", "collect_runs", "render_report"]
