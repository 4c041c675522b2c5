"""``pdesolve report``: a static HTML page from the JSON and figures that runs write."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "report",
        help="render run folders (solve, train, bench, experiments) as one browsable HTML page",
        description=(
            "Collect the JSON records and figures under each RUN_DIR (or JSON file) and write a static "
            "HTML page: a front table of every benchmark and reproduction against its anchor, then each "
            "record by its kind (verification pass/fail, benchmark ratio bars, training curves, error "
            "against time and field snapshots, learning curves), with each run's configuration and "
            "pdesolve version."
        ),
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders or JSON files")
    p.add_argument("--out", default="report", help="output folder (default: report/)")
    p.add_argument("--title", default="pdesolve results")
    p.add_argument("--json", action="store_true", help="print {\"page\", \"runs\"} as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..report import collect_runs, render_report
    from ._main import emit_json

    runs = collect_runs(args.runs)
    page = render_report(runs, args.out, title=args.title)
    if args.json:
        emit_json({
            "page": str(page),
            "runs": [{"name": r.name, "records": len(r.records), "images": len(r.images),
                      "version": r.version, "problems": r.problems} for r in runs],
        })
    else:
        for r in runs:
            print(f"  {r.name}: {len(r.records)} JSON record(s), {len(r.images)} figure(s)"
                  + (f", {len(r.problems)} unreadable" if r.problems else ""))
        print(f"wrote {page}")
    return 0
