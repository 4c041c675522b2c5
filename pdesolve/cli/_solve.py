"""``pdesolve solve``: run one solve, write the final field and figures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .._errors import InvalidInputError


def register(sub) -> None:
    from ..integrators import INTEGRATORS
    from ..problems import PROBLEMS

    p = sub.add_parser(
        "solve",
        help="run one solve (spectral, or neural: teng, tdvp, insr) and write the final field and figures",
        description=(
            "Solve one PDE on a periodic grid from a random initial condition. Writes final_field.npy, "
            "trajectory.npz, snapshots.png, spectrum.png and summary.json into --out and prints their paths."
        ),
    )
    p.add_argument("pde", choices=PROBLEMS, help="which PDE to solve")
    p.add_argument(
        "--method",
        choices=("spectral", "teng", "tdvp", "insr"),
        default="spectral",
        help="spectral grid solver (default), or a neural-field solver: teng/tdvp (heat, allen-cahn, burgers "
        "on [0,2pi)^2, T=4) or insr (advection 1D, heat 2D); neural methods print the error against a reference",
    )
    p.add_argument("--resolution", type=int, default=None, help="grid points per axis (default 64; neural: collocation grid)")
    p.add_argument("--ndim", type=int, default=None, help="spatial dimensions (default 2)")
    p.add_argument("--steps", type=int, default=None, help="number of time steps (default 500; neural: to the problem's T)")
    p.add_argument("--dt", type=float, default=None, help="time step (default: a stable per-problem value)")
    p.add_argument("--integrator", choices=INTEGRATORS, default="etdrk4", help="time integrator (default etdrk4)")
    p.add_argument("--viscosity", type=float, default=None, help="viscosity / diffusivity")
    p.add_argument("--forcing", choices=("kolmogorov", "fno", "none"), default="kolmogorov", help="Navier-Stokes forcing")
    p.add_argument("--drag", type=float, default=0.1, help="Navier-Stokes linear drag (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial condition")
    p.add_argument("--snapshots", type=int, default=5, help="frames in the snapshot figure (default 5)")
    p.add_argument("--precision", choices=("float32", "float64"), default="float32")
    p.add_argument("--no-check-finite", action="store_true", help="skip the NaN/Inf check")
    p.add_argument("--out", default=None, help="output folder (default runs/solve-<pde>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    neural = p.add_argument_group("neural-field methods (--method teng|tdvp|insr)")
    neural.add_argument("--config", choices=("cpu", "paper"), default="cpu",
                        help="TENG configuration: grid, network, dt, inner solve (default cpu; flags below override it)")
    neural.add_argument("--eval-resolution", type=int, default=None,
                        help="TENG: write final_field.npy on this N x N grid (x_i = 2 pi i / N) and score it there")
    neural.add_argument("--width", type=int, default=None,
                        help="network width (default: TENG config; INSR: the problem's network; else 20)")
    neural.add_argument("--depth", type=int, default=None,
                        help="dense hidden layers (default: TENG config; INSR: the problem's network; else 3)")
    neural.add_argument("--subset", type=int, default=None, help="TENG parameter-subset size (default: config)")
    neural.add_argument("--inner-iterations", type=int, default=None, help="TENG projections per stage (default: config)")
    neural.add_argument("--tolerance", type=float, default=None,
                        help="inner-solve tolerance; a step that misses it is warned about with its number "
                        "(TENG: per-stage relative residual, default: config; INSR: RMS step residual, "
                        "default 1e-3)")
    neural.add_argument("--scheme", choices=("heun", "euler"), default="heun", help="TENG time scheme")
    neural.add_argument("--iterations", type=int, default=300, help="INSR Adam iterations per step (default 300)")
    neural.add_argument("--finish-steps", type=int, default=10,
                        help="INSR Levenberg-Marquardt iterations that finish each step (default 10; 0: Adam only)")
    neural.add_argument("--ic-steps", type=int, default=None,
                        help="Adam steps of the initial-condition fit (default: TENG config; else 3000)")
    neural.add_argument("--ic-lbfgs-steps", type=int, default=None,
                        help="TENG/TDVP: L-BFGS steps after Adam in the initial fit (default: TENG config; else 5000)")
    neural.add_argument("--ic-iterations", type=int, default=None,
                        help="TENG/TDVP: least-squares projections that finish the initial fit (default: TENG config; "
                             "else 200)")
    p.set_defaults(run=run, option_defaults={dest: p.get_default(dest) for dest in _USED_BY})


def solve_to_folder(
    pde_name: str,
    out: Path,
    *,
    resolution: int = 64,
    ndim: int | None = None,
    steps: int = 500,
    dt: float | None = None,
    integrator: str = "etdrk4",
    viscosity: float | None = None,
    forcing: str = "kolmogorov",
    drag: float = 0.1,
    seed: int = 0,
    snapshots: int = 5,
    precision: str = "float32",
    check_finite: bool = True,
    progress: bool = True,
) -> dict:
    """Solve and write outputs into `out`; returns the JSON-ready summary."""
    import jax.numpy as jnp

    from ..integrators import build_stepper, rollout_with_progress
    from ..metrics import energy_spectrum
    from ..plotting import plot_snapshot_strip, plot_spectrum
    from ..problems import build_problem

    if steps <= 0:
        raise InvalidInputError(f"--steps must be positive, got {steps}")
    if resolution <= 0:
        raise InvalidInputError(f"--resolution must be positive, got {resolution}")
    dtype = jnp.float32 if precision == "float32" else jnp.float64
    problem = build_problem(pde_name, resolution, ndim, viscosity, forcing, drag, seed, dtype)
    dt = problem.dt if dt is None else dt
    stepper = build_stepper(integrator, problem.pde, dt)
    save_every = max(1, steps // max(1, snapshots - 1))
    start = time.perf_counter()
    trajectory = rollout_with_progress(
        stepper, problem.u0, steps, save_every=save_every, check_finite=check_finite, progress=progress, description=pde_name
    )
    trajectory = np.asarray(trajectory)
    wall = time.perf_counter() - start
    times = np.arange(trajectory.shape[0]) * save_every * dt

    out.mkdir(parents=True, exist_ok=True)
    grid = problem.pde.grid
    paths = {
        "final_field": out / "final_field.npy",
        "trajectory": out / "trajectory.npz",
        "snapshots": out / "snapshots.png",
        "spectrum": out / "spectrum.png",
        "summary": out / "summary.json",
    }
    np.save(paths["final_field"], trajectory[-1])
    np.savez_compressed(paths["trajectory"], u=trajectory, t=times, x=np.asarray(grid.coordinates()))
    plot_snapshot_strip(trajectory[:, 0], times, paths["snapshots"], title=f"{pde_name} (channel 0)")
    spectra = [(*energy_spectrum(trajectory[i], grid), f"t = {times[i]:.3g}") for i in (0, len(times) // 2, -1)]
    fraction = getattr(problem.pde, "dealiasing_fraction", None)  # nonlinear PDEs: modes beyond are not resolved
    cutoff = None if fraction is None else fraction * min(grid.num_points) / 2
    plot_spectrum(spectra, paths["spectrum"], title=f"{pde_name}: shell spectrum of 0.5|u|^2", cutoff=cutoff)
    summary = {
        "pde": pde_name,
        "resolution": resolution,
        "grid_shape": list(grid.shape),
        "integrator": integrator,
        "dt": dt,
        "steps": steps,
        "final_time": steps * dt,
        "precision": precision,
        "parameters": problem.parameters,
        "seed": seed,
        "wall_s": wall,
        "final_max_abs": float(np.max(np.abs(trajectory[-1]))),
        "outputs": {k: str(v) for k, v in paths.items()},
    }
    paths["summary"].write_text(json.dumps(summary, indent=2, default=float))
    return summary


#: The methods that read each option; giving one to another method is an error, not a silent no-op.
_NEURAL = ("teng", "tdvp", "insr")
_USED_BY = {
    "ndim": ("spectral",), "integrator": ("spectral",), "viscosity": ("spectral",), "forcing": ("spectral",),
    "drag": ("spectral",), "precision": ("spectral",), "no_check_finite": ("spectral",),
    "config": ("teng",), "eval_resolution": ("teng",), "width": _NEURAL, "depth": _NEURAL,
    "subset": ("teng", "tdvp"), "inner_iterations": ("teng",), "tolerance": ("teng", "insr"), "scheme": ("teng",),
    "iterations": ("insr",), "finish_steps": ("insr",), "ic_steps": _NEURAL, "ic_lbfgs_steps": ("teng", "tdvp"),
    "ic_iterations": ("teng", "tdvp"),
}


def _check_options_apply(args, method: str) -> None:
    defaults = getattr(args, "option_defaults", {})
    for dest, methods in _USED_BY.items():
        if method not in methods and dest in defaults and getattr(args, dest) != defaults[dest]:
            flag = "--" + dest.replace("_", "-")
            raise InvalidInputError(f"{flag} applies to --method {' / '.join(methods)}, not {method}")


def run(args) -> int:
    from ._main import emit_json

    method = getattr(args, "method", "spectral")
    _check_options_apply(args, method)
    if method != "spectral":
        from ..neural_fields import teng_config
        from ._neural_solve import neural_solve_to_folder, print_summary_table

        out = Path(args.out or f"runs/solve-{args.pde}-{method}")
        summary = neural_solve_to_folder(
            args.pde, method, out, resolution=args.resolution, steps=args.steps, dt=args.dt, width=args.width,
            depth=args.depth, subset=args.subset, inner_iterations=args.inner_iterations, tolerance=args.tolerance,
            scheme=args.scheme, iterations=args.iterations, finish_steps=args.finish_steps, ic_steps=args.ic_steps,
            ic_lbfgs_steps=args.ic_lbfgs_steps, ic_iterations=args.ic_iterations, seed=args.seed, snapshots=args.snapshots,
            progress=not (args.quiet or args.json), config=teng_config(args.config) if method == "teng" else None,
            eval_resolution=args.eval_resolution,
        )
        if args.json:
            emit_json(summary)
        else:
            print_summary_table(summary)
        return 0
    out = Path(args.out or f"runs/solve-{args.pde}")
    summary = solve_to_folder(
        args.pde,
        out,
        resolution=64 if args.resolution is None else args.resolution,
        ndim=args.ndim,
        steps=500 if args.steps is None else args.steps,
        dt=args.dt,
        integrator=args.integrator,
        viscosity=args.viscosity,
        forcing=args.forcing,
        drag=args.drag,
        seed=args.seed,
        snapshots=args.snapshots,
        precision=args.precision,
        check_finite=not args.no_check_finite,
        progress=not (args.quiet or args.json),
    )
    if args.json:
        emit_json(summary)
    else:
        print(
            f"solved {args.pde} on {'x'.join(map(str, summary['grid_shape']))} to t = {summary['final_time']:.4g} "
            f"with {args.integrator} in {summary['wall_s']:.2f} s"
        )
        for name, path in summary["outputs"].items():
            print(f"  {name:12s} {path}")
    return 0
