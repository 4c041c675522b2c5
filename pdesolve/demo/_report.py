"""The demo's last part: ``index.html`` rendered by :mod:`pdesolve.report` from the parts' folders."""

from __future__ import annotations

import shutil

from ._parts import PartContext


def report(ctx: PartContext) -> dict:
    """Render the folders of the parts that ran (their ``record.json``, run files and figures) into
    ``<demo>/index.html`` with :func:`pdesolve.report.render_report`, as ``pdesolve report`` does."""
    from ..report import collect_runs, render_report

    root = ctx.out.parent
    folders = [root / name for name in ctx.records if (root / name / "record.json").exists()]
    if not folders:
        ctx.fail("no part wrote a record to report")
    shutil.rmtree(root / "assets", ignore_errors=True)  # the previous page's copies
    runs = collect_runs(folders)
    page = render_report(runs, root, title="pdesolve demo")
    figures = sum(len(r.images) for r in runs)
    return {
        "kind": "report",
        "parts": [r.name for r in runs],
        "records": sum(len(r.records) for r in runs),
        "figures": figures,
        "paths": {"page": str(page)},
        "summary": f"{page} ({len(runs)} parts, {figures} figures)",
    }
