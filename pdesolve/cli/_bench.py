"""``pdesolve bench``: side-by-side speed comparisons with anchors."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="side-by-side benchmarks against anchors (exponax, ...)",
        description="Run a benchmark; ratio = anchor_s / ours_s, so a ratio above 1 means pdesolve is faster.",
    )
    bench_sub = p.add_subparsers(dest="bench_name", metavar="NAME")
    r = bench_sub.add_parser(
        "reference",
        help="reference solvers vs exponax (2D Kolmogorov Navier-Stokes and heat, 128^2, 1000 steps, float32)",
        description=(
            "Time the same work for pdesolve and exponax in one run and report ratio = exponax_s / ours_s "
            "and both errors against a fine reference; also the Diffrax method-of-lines path vs the scan path."
        ),
    )
    r.add_argument("--resolution", type=int, default=128)
    r.add_argument("--steps", type=int, default=1000)
    r.add_argument("--repeats", type=int, default=3)
    r.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    r.add_argument("--json", action="store_true", help="print {\"results\": [...]} as JSON")
    r.set_defaults(run=run_reference)
    o = bench_sub.add_parser(
        "optim",
        help="every optimizer on a small PINN and a small FNO regression, relative to optax.adam",
        description=(
            "Run each optimizer (optax's and pdesolve.optim's) on a 1D Poisson PINN and a 1D heat FNO regression "
            "in one run; report steps and wall time to a target loss and the final error, relative to optax.adam."
        ),
    )
    o.add_argument("--quick", action="store_true", help="tiny step budgets, for a smoke test")
    o.add_argument("--optimizer", action="append", help="run only this optimizer (repeatable; adam always runs)")
    o.add_argument("--json", action="store_true", help="print {\"results\": [...]} as JSON")
    o.set_defaults(run=run_optim)
    p.set_defaults(run=lambda args: (p.print_help(), 0)[1])


def run_optim(args) -> int:
    import sys

    from ..bench import format_optim_table, run_optim_benchmark
    from ._main import emit_json

    say = None if args.json else (lambda msg: print(f"  {msg}", file=sys.stderr))
    result = run_optim_benchmark(quick=args.quick, optimizers=args.optimizer, progress=say)
    if args.json:
        emit_json(result)
    else:
        print(format_optim_table(result))
    return 0


def run_reference(args) -> int:
    import jax

    # The benchmark is a float32 comparison; the CLI enables x64 for verify, so turn it off here.
    jax.config.update("jax_enable_x64", False)
    from ..bench import format_table, run_reference_benchmark
    from ._main import emit_json

    result = run_reference_benchmark(
        resolution=args.resolution, num_steps=args.steps, repeats=args.repeats, quick=args.quick
    )
    if args.json:
        emit_json(result)
    else:
        print(format_table(result))
    return 0
