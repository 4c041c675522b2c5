"""``pdesolve verify``: analytic regression cases."""

from __future__ import annotations

import sys


def register(sub) -> None:
    from ..verification import CASES

    p = sub.add_parser(
        "verify",
        help="check the solvers against analytic solutions (float64)",
        description=(
            "Run the analytic regression cases and print a table: case, resolution, error, tolerance, "
            "observed convergence order, pass/fail. Exits 1 if any case fails."
        ),
    )
    p.add_argument("--case", action="append", choices=list(CASES), help="run only this case (repeatable)")
    p.add_argument("--json", action="store_true", help="print a JSON list of results")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..verification import format_table, run_verification
    from ._main import emit_json

    def progress(result):
        if not args.json:
            print(f"  {result.case}: {'PASS' if result.passed else 'FAIL'}", file=sys.stderr)

    results = run_verification(args.case, callback=progress)
    if args.json:
        emit_json([r.to_json() for r in results])
    else:
        print(format_table(results))
    return 0 if all(r.passed for r in results) else 1
