"""``pdesolve generate``: make an HDF5 dataset with the reference solvers."""

from __future__ import annotations

import sys
import time


def register(sub) -> None:
    from ..datasets import COMPRESSIONS, RECIPES

    lines = [f"  {name}: {recipe.description}" for name, recipe in RECIPES.items()]
    p = sub.add_parser(
        "generate",
        help="generate an HDF5 dataset (heat, Burgers, Navier-Stokes) with the reference solvers",
        description=(
            "Solve N samples of a recipe in vmapped batches and write them to a PDEBench-style HDF5 file. "
            "Work in progress lives in OUT.tmp and is renamed to OUT when complete; --resume continues "
            "an interrupted run. Sample i is generated from seed SEED + i (stored in the 'seeds' dataset).\n\n"
            "recipes:\n" + "\n".join(lines)
        ),
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    p.add_argument("recipe", choices=list(RECIPES), metavar="RECIPE", help=f"one of {', '.join(RECIPES)}")
    p.add_argument("--n", type=int, required=True, help="number of samples")
    p.add_argument("--resolution", type=int, required=True, help="output grid points per axis")
    p.add_argument("--out", required=True, help="the .h5 file to write")
    p.add_argument("--seed", type=int, default=0, help="base seed: sample i uses SEED + i (default 0)")
    p.add_argument("--batch-size", type=int, default=None, help="samples solved together (default: fits ~256 MiB)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted generation from OUT.tmp")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    p.add_argument("--nu", type=float, default=None, help="viscosity / diffusivity (ns-fno: 1e-3, 1e-4 or 1e-5)")
    p.add_argument("--t-final", type=float, default=None, help="final time (a multiple of --dt-save)")
    p.add_argument("--dt-save", type=float, default=None, help="time between saved frames")
    p.add_argument("--dt", type=float, default=None, help="largest solver time step (default from the recipe)")
    p.add_argument("--solve-resolution", type=int, default=None, help="solver grid points per axis")
    p.add_argument("--integrator", default=None, help="etdrk1-4, cn-euler or cn-rk3 (default from the recipe)")
    p.add_argument("--dtype", choices=("float32", "float64"), default=None, help="solver dtype (file is float32)")
    p.add_argument(
        "--compression", choices=COMPRESSIONS, default="gzip",
        help="tensor compression (default gzip, readable by every HDF5 tool; blosc-lz4 and blosc-zstd decode "
             'several times faster and need hdf5plugin: pip install "pdesolve[fast-io]")',
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    from ._distributed_options import add_distributed_arguments

    add_distributed_arguments(p, "each writes OUT.shard-K-of-P.h5 and process 0 links the shards into OUT as one virtual dataset.")
    p.add_argument("--json", action="store_true", help="print the finished file's summary as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..datasets import generate, get_recipe
    from ._main import emit_json

    overrides = {
        "nu": args.nu, "t_final": args.t_final, "dt_save": args.dt_save, "dt": args.dt,
        "solve_resolution": args.solve_resolution, "integrator": args.integrator, "dtype": args.dtype,
    }
    allowed = get_recipe(args.recipe).parameters
    overrides = {k: v for k, v in overrides.items() if v is not None and k in allowed}
    start = time.perf_counter()
    if args.distributed:
        return _run_distributed(args, overrides, start)
    info = generate(
        args.recipe, args.n, args.resolution, args.out,
        seed=args.seed, batch_size=args.batch_size, resume=args.resume, overwrite=args.overwrite,
        progress=not (args.no_progress or args.json), compression=args.compression, **overrides,
    )
    seconds = time.perf_counter() - start
    if args.json:
        emit_json(dict(info.to_dict(), seconds=seconds))
    else:
        shape = "x".join(str(s) for s in (info.num_samples,) + info.sample_shape)
        print(f"wrote {info.path}: tensor [{info.axes}] = {shape} float32 in {seconds:.1f} s", file=sys.stderr)
    return 0


def _run_distributed(args, overrides, start) -> int:
    from ..datasets import validate_file
    from ..distributed import generate_sharded
    from ._distributed_options import initialize_from_arguments
    from ._main import emit_json

    config = initialize_from_arguments(args)
    out = generate_sharded(
        args.recipe, args.n, args.resolution, args.out, config,
        seed=args.seed, batch_size=args.batch_size, resume=args.resume, overwrite=args.overwrite,
        progress=not (args.no_progress or args.json), compression=args.compression, **overrides,
    )
    seconds = time.perf_counter() - start
    info = validate_file(out, check_data=False)
    if args.json:
        emit_json(dict(info.to_dict(), seconds=seconds, process_id=config.process_id,
                       num_processes=config.num_processes))
    elif config.is_main:
        print(f"wrote {out} from {config.num_processes} process(es) in {seconds:.1f} s", file=sys.stderr)
    return 0
