"""``pdesolve demo``: the main job, a tour of the whole stack that writes ``runs/demo/`` (see :mod:`pdesolve.demo`)."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="the main job: solvers, verification, dataset, FNO, TENG, inverse problem, hard constraint, report",
        description=(
            "Run the tour of pdesolve in eight parts, each with a progress bar and one line of result: reference "
            "solvers (2D heat, Kolmogorov Navier-Stokes), analytic verification, an HDF5 dataset, an FNO trained on "
            "it (vs persistence and vs the solver's time), TENG on 2D heat, recovering a viscosity through the "
            "ETDRK4 rollout, a mass-conserving FNO, and the HTML report --out/index.html. Writes one folder per "
            "part and --out/summary.json; exits 1 if a part fails (naming it)."
        ),
    )
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--quick", action="store_true", help="every part at toy size (seconds, for tests)")
    p.add_argument("--resolution", type=int, default=None, help="Navier-Stokes grid of the reference part (default 128)")
    p.add_argument("--time", type=float, default=None, help="Navier-Stokes final time of the reference part (default 30)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the summary (runs/demo/summary.json) as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    import dataclasses

    from .._errors import InvalidInputError
    from ..demo import DemoConfig, print_line, run_demo
    from ._main import emit_json

    config = DemoConfig.quick() if args.quick else DemoConfig.full()
    if args.resolution is not None:
        if args.resolution < 8:
            raise InvalidInputError(f"--resolution must be at least 8, got {args.resolution}")
        config = dataclasses.replace(config, ns_resolution=args.resolution)
    if args.time is not None:
        if not args.time > 0:
            raise InvalidInputError(f"--time must be positive, got {args.time}")
        config = dataclasses.replace(config, ns_time=args.time)
    echo = print_line if args.json else (lambda line: print(line, flush=True))
    summary = run_demo(Path(args.out), config, progress=not (args.quiet or args.json), echo=echo)
    if args.json:
        emit_json(summary)
    else:
        print(f"demo finished in {summary['total_wall_s']:.1f} s; summary {args.out}/summary.json, "
              f"report {args.out}/index.html")
    if summary["failed"]:
        print(f"pdesolve demo: failed parts: {', '.join(summary['failed'])}", file=sys.stderr)
        return 1
    return 0
