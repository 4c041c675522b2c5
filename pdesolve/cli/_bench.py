"""``pdesolve bench``: side-by-side speed comparisons with anchors."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (sizes, counts, repeats)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


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
    r.add_argument("--resolution", type=positive_int, default=128)
    r.add_argument("--steps", type=positive_int, default=1000)
    r.add_argument("--repeats", type=positive_int, default=3)
    r.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    r.add_argument("--json", action="store_true", help="print {\"results\": [...]} as JSON")
    r.set_defaults(run=run_reference, bench_seed=0, bench_parser=r)
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
    o.add_argument("--problem", action="append", choices=("pinn_poisson_1d", "fno_heat_1d"),
                   help="run only this problem (repeatable; default both)")
    o.add_argument("--json", action="store_true", help="print {\"results\": [...]} as JSON")
    o.set_defaults(run=run_optim, bench_seed=0, bench_parser=o)
    d = bench_sub.add_parser(
        "datasets",
        help="HDF5 loader throughput per codec: our DataLoader vs naive h5py indexing vs a raw read vs the decode bound",
        description=(
            "For each compression (default: gzip, lzf, blosc-lz4, blosc-zstd, none), generate one heat2d file "
            "(default 1024 samples at 64^2) and read it whole with our loader, with naive shuffled per-sample "
            "h5py indexing (the anchor) and with a raw sequential read (the physical limit), with a warm and a "
            "cold (posix_fadvise DONTNEED on the file) page cache. Reports samples/s, speedup_vs_naive, "
            "fraction_of_raw and the decode bound (one thread's CPU seconds to decode the file / cores)."
        ),
    )
    d.add_argument("--quick", action="store_true", help="a tiny file and one repeat, for a smoke test")
    d.add_argument("--samples", type=positive_int, default=None, help="samples in the file (default 1024)")
    d.add_argument("--resolution", type=positive_int, default=None, help="grid points per axis (default 64)")
    d.add_argument("--batch-size", type=positive_int, default=32)
    d.add_argument("--repeats", type=positive_int, default=None, help="timed epochs per reader (best kept; default 3)")
    d.add_argument("--compression", action="append", choices=("gzip", "lzf", "blosc-lz4", "blosc-zstd", "none"),
                   help="a codec to measure (repeatable; default all five)")
    d.add_argument("--cache", choices=("warm", "cold", "both"), default="both", help="page-cache state(s)")
    d.add_argument("--file", default=None, help="reuse or create the benchmark file here (one --compression)")
    d.add_argument("--dir", default=None, help="reuse or create the benchmark files (one per codec) in this folder")
    d.add_argument("--out", default=None, help="also write the JSON result, with its provenance, to this file")
    d.add_argument("--json", action="store_true", help="print {\"results\": [...]} as JSON")
    d.set_defaults(run=run_datasets, bench_seed=0, bench_parser=d)
    im = bench_sub.add_parser(
        "implicit",
        help="implicit (custom_root) vs unrolled differentiation of an iterative solver: time and memory vs iterations",
        description=(
            "Differentiate K Richardson iterations of a nonlinear system two ways in one run: implicitly "
            "(pdesolve.constraints.custom_root, CG backward solve) and by unrolling (anchor). Reports "
            "time, gradient error against the exact implicit gradient, and XLA compiled temp memory."
        ),
    )
    im.add_argument("--size", type=positive_int, default=4096, help="unknowns n")
    im.add_argument("--iterations", type=positive_int, nargs="+", default=[10, 100, 1000, 4000],
                    help="iteration counts K")
    im.add_argument("--repeats", type=positive_int, default=3)
    im.add_argument("--quick", action="store_true", help="n=256, K in (10, 100, 400), for a smoke test")
    im.add_argument("--json", action="store_true", help="print {\"results\": [...]} as JSON")
    im.set_defaults(run=run_implicit, bench_seed=None, bench_parser=im)
    ad = bench_sub.add_parser(
        "adjoint",
        help="neural-ODE adjoints (recursive checkpoint, backsolve, direct): time, memory and gradient error vs steps",
        description=(
            "Differentiate a constant-step Tsit5 solve of a non-dissipative (advection) and a dissipative "
            "(viscous Burgers) ODE with each adjoint as the number of steps grows; report time, gradient error "
            "against a high-accuracy reference and XLA compiled temp memory, with the recursive-checkpoint "
            "adjoint as the anchor (ratio = anchor_s / ours_s)."
        ),
    )
    ad.add_argument("--steps", type=positive_int, nargs="+", default=[100, 1000, 10000],
                    help="numbers of solver steps N")
    ad.add_argument("--size", type=positive_int, default=64, help="state dimension n")
    ad.add_argument("--repeats", type=positive_int, default=3)
    ad.add_argument("--quick", action="store_true", help="n=16, N in (10, 100), one repeat, for a smoke test")
    ad.add_argument("--json", action="store_true", help="print {\"results\": [...]} as JSON")
    ad.set_defaults(run=run_adjoint, bench_seed=0, bench_parser=ad)
    sc = bench_sub.add_parser(
        "scaling",
        help="dataset generation throughput: 1 process vs P cooperating jax.distributed processes",
        description=(
            "Generate the same samples with one process and with P processes on the loopback address "
            "(each writes a shard; process 0 links them into a virtual dataset), in one run; "
            "ratio = 1-process time / P-process time."
        ),
    )
    sc.add_argument("--recipe", default="heat2d")
    sc.add_argument("--samples", type=positive_int, default=64)
    sc.add_argument("--resolution", type=positive_int, default=64)
    sc.add_argument("--processes", type=positive_int, default=2)
    sc.add_argument("--quick", action="store_true", help="4 samples at 16^2, for a smoke test")
    sc.add_argument("--json", action="store_true", help="print {\"results\": [...]} as JSON")
    sc.set_defaults(run=run_scaling, bench_seed=0, bench_parser=sc)
    tr = bench_sub.add_parser(
        "training",
        help="FNO-2D and MP-PDE training step / inference time vs PyTorch (neuraloperator and a PyTorch MP-PDE)",
        description=(
            "Time one training step (forward, loss, backward, optimizer update) and one inference batch of the "
            "FNO paper's 2D Navier-Stokes model (32^2 and 64^2, batch 20) and of the MP-PDE paper's model "
            "(nx = 100 and 40, batch 16, with and without the pushforward unroll; 200-frame rollouts) against "
            "PyTorch in one process, in interleaved rounds with the same thread count; float32. The PyTorch "
            "anchors are the optional extra pip install -e \".[anchors]\"; without it ours run alone."
        ),
    )
    tr.add_argument("--model", action="append", choices=("fno", "mp-pde"),
                    help="run only this model (repeatable; default both)")
    tr.add_argument("--fno-resolutions", type=positive_int, nargs="+", default=[32, 64],
                    help="FNO grid sizes n (n^2 points)")
    tr.add_argument("--mp-pde-resolutions", type=positive_int, nargs="+", default=[100, 40],
                    help="MP-PDE grid sizes nx")
    tr.add_argument("--repeats", type=positive_int, default=5, help="interleaved timed rounds per case (best kept)")
    tr.add_argument("--no-anchors", action="store_true", help="time ours only, even when PyTorch is installed")
    tr.add_argument("--threads", type=int, choices=(1,), default=None,
                    help="1: pin the process to one CPU, so XLA and PyTorch each run one thread (the robust "
                         "comparison on a shared machine); default: every CPU the process may use")
    tr.add_argument("--fno-transform", choices=("rfft", "dft"), default="rfft",  # operators.FOURIER_TRANSFORMS
                    help="our FNO's Fourier transform: rfft (FFTs, default) or dft (truncated DFT matrix products, "
                         "operators.TruncatedDFT)")
    tr.add_argument("--quick", action="store_true", help="tiny models and sizes, one round, for a smoke test")
    tr.add_argument("--json", action="store_true", help="print {\"results\": [...]} as JSON")
    tr.set_defaults(run=run_training, bench_seed=0, bench_parser=tr)
    p.set_defaults(run=lambda args: (p.print_help(), 0)[1])


def run_optim(args) -> int:
    import sys

    from ..bench import format_optim_table, run_optim_benchmark

    say = None if args.json else (lambda msg: print(f"  {msg}", file=sys.stderr))
    result = run_optim_benchmark(quick=args.quick, optimizers=args.optimizer, problems=args.problem, progress=say)
    return _show(args, result, format_optim_table)


def run_reference(args) -> int:
    import jax

    # The benchmark is a float32 comparison; the CLI enables x64 for verify, so turn it off here.
    jax.config.update("jax_enable_x64", False)
    from ..bench import format_table, run_reference_benchmark

    result = run_reference_benchmark(
        resolution=args.resolution, num_steps=args.steps, repeats=args.repeats, quick=args.quick
    )
    return _show(args, result, format_table)


def run_training(args) -> int:
    import os
    import sys

    if args.threads == 1:
        # One CPU for the whole process: XLA sizes its thread pool by the CPUs it may use when its
        # backend starts (nothing in the CLI has started it yet), and PyTorch gets as many threads.
        if not hasattr(os, "sched_setaffinity"):
            print("pdesolve bench training: --threads 1 needs os.sched_setaffinity (Linux)", file=sys.stderr)
            return 2
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from ..bench import format_training_table, run_training_benchmark
    from ..operators import FOURIER_TRANSFORMS

    say = None if args.json else (lambda msg: print(f"  {msg}", file=sys.stderr))
    result = run_training_benchmark(
        fno_resolutions=tuple(args.fno_resolutions), mp_pde_resolutions=tuple(args.mp_pde_resolutions),
        models=tuple(args.model or ("fno", "mp-pde")), repeats=args.repeats, quick=args.quick,
        anchors_enabled=not args.no_anchors, progress=say,
        fno_transform=FOURIER_TRANSFORMS[args.fno_transform](),
    )
    return _show(args, result, format_training_table)


def run_datasets(args) -> int:
    import sys

    from ..bench import format_datasets_table, run_datasets_benchmark

    say = None if args.json else (lambda msg: print(f"  {msg}", file=sys.stderr))
    result = run_datasets_benchmark(
        quick=args.quick, num_samples=args.samples, resolution=args.resolution, batch_size=args.batch_size,
        repeats=args.repeats, compression=args.compression, path=args.file, directory=args.dir, progress=say,
        caches=("warm", "cold") if args.cache == "both" else (args.cache,),
    )
    if args.out:
        from ..bench import write_result_json

        write_result_json(args.out, result, seed=args.bench_seed, argv=_command(args))
    return _show(args, result, format_datasets_table)


def run_implicit(args) -> int:
    from ..bench import format_implicit_table, run_implicit_benchmark

    result = run_implicit_benchmark(
        size=args.size, iterations=tuple(args.iterations), repeats=args.repeats, quick=args.quick
    )
    return _show(args, result, format_implicit_table)


def run_adjoint(args) -> int:
    import sys

    from ..bench import format_adjoint_table, run_adjoint_benchmark

    say = None if args.json else (lambda msg: print(f"  {msg}", file=sys.stderr))
    result = run_adjoint_benchmark(
        steps=tuple(args.steps), size=args.size, repeats=args.repeats, quick=args.quick, progress=say
    )
    return _show(args, result, format_adjoint_table)


def run_scaling(args) -> int:
    import sys

    from ..bench import format_scaling_table, run_scaling_benchmark

    say = None if args.json else (lambda msg: print(f"  {msg}", file=sys.stderr))
    result = run_scaling_benchmark(recipe=args.recipe, num_samples=args.samples, resolution=args.resolution,
                                   processes=args.processes, quick=args.quick, progress=say)
    return _show(args, result, format_scaling_table)


def _command(args) -> list[str]:
    """The command line of this benchmark run, rebuilt from the parsed options (those that differ
    from their defaults, in the parser's order), so it reads the same however the CLI was called."""
    words = ["pdesolve", "bench", args.bench_name]
    for action in args.bench_parser._actions:
        value = getattr(args, action.dest, None) if action.option_strings else None
        if value is None or value == action.default or action.dest == "help":
            continue
        flag = action.option_strings[-1]
        if action.nargs == 0:
            words.append(flag)
        elif isinstance(value, list) and action.nargs in (None, "?"):
            words += [w for item in value for w in (flag, str(item))]  # append actions
        elif isinstance(value, (list, tuple)):
            words += [flag, *map(str, value)]
        else:
            words += [flag, str(value)]
    return words


def _show(args, result, formatter) -> int:
    """Print a benchmark result as JSON (``--json``, with its provenance: command, seed, commit,
    version, date, at the top level) or as its text table; exit status 0."""
    from ..bench import provenance
    from ._main import emit_json

    if args.json:
        seed = result.get("seed", args.bench_seed)
        emit_json({**provenance(seed, _command(args)), **result})
    else:
        print(formatter(result))
    return 0
