"""``pdesolve solve <pde> --method teng|tdvp|insr``: neural-field solves with figures and a summary."""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .._errors import InvalidInputError

NEURAL_METHODS = ("teng", "tdvp", "insr")
_TENG_PDES = ("heat", "allen-cahn", "burgers")
_INSR_PDES = ("advection", "heat")


def _plot_error(times, errors, path, title):
    from ..plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.semilogy(times, errors, marker="o", ms=3)
    ax.set_xlabel("t")
    ax.set_ylabel("relative L2 error")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _solve_reporting_misses(solver, net, steps, **options):
    """``solver.solve`` with its :class:`InnerSolveWarning` s collected and echoed to stderr."""
    from ..neural_fields import InnerSolveWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InnerSolveWarning)
        result = solver.solve(net, steps, **options)
    messages = [str(c.message) for c in caught if issubclass(c.category, InnerSolveWarning)]
    for message in messages[:5]:
        print(f"warning: {message}", file=sys.stderr)
    return result, messages


def neural_solve_to_folder(
    pde_name: str,
    method: str,
    out: Path,
    *,
    resolution: int | None = None,
    steps: int | None = None,
    dt: float | None = None,
    width: int = 20,
    depth: int = 3,
    subset: int | None = None,
    inner_iterations: int = 3,
    tolerance: float | None = None,
    scheme: str = "heun",
    iterations: int = 300,
    finish_steps: int = 10,
    ic_steps: int = 3000,
    ic_lbfgs_steps: int = 5000,
    seed: int = 0,
    snapshots: int = 5,
    progress: bool = True,
) -> dict:
    """Run TENG / TDVP (TENG problems on [0, 2π)², float64) or INSR (1D advection, 2D heat).

    Writes ``error_vs_time.png``, ``snapshots.png`` and ``summary.json`` into ``out``; returns
    the summary. ``resolution`` is the collocation grid (TENG/TDVP) and the evaluation grid.
    ``ic_steps`` Adam steps (then, for TENG/TDVP, ``ic_lbfgs_steps`` L-BFGS steps) fit the initial
    condition; INSR runs ``iterations`` Adam iterations and ``finish_steps`` Levenberg-Marquardt
    iterations per step, and holds the inflow value u(-2) = 0 for advection.
    """
    import jax
    import jax.numpy as jnp

    from .. import neural_fields as ns
    from ..plotting import plot_snapshot_strip

    jax.config.update("jax_enable_x64", True)
    if method not in NEURAL_METHODS:
        raise InvalidInputError(f"--method must be one of spectral, {', '.join(NEURAL_METHODS)}; got {method!r}")
    allowed = _INSR_PDES if method == "insr" else _TENG_PDES
    if pde_name not in allowed:
        raise InvalidInputError(f"--method {method} supports the PDEs {allowed}, got {pde_name!r}")
    if steps is not None and steps <= 0:
        raise InvalidInputError(f"--steps must be positive, got {steps}")
    if dt is not None and not dt > 0:
        raise InvalidInputError(f"--dt must be positive, got {dt}")
    if tolerance is not None and not tolerance > 0:
        raise InvalidInputError(f"--tolerance must be positive, got {tolerance}")
    if tolerance is None:
        tolerance = 1e-3 if method == "insr" else 1e-6
    for flag, value in (("--finish-steps", finish_steps), ("--ic-steps", ic_steps), ("--ic-lbfgs-steps", ic_lbfgs_steps)):
        if value < 0:
            raise InvalidInputError(f"{flag} must be >= 0, got {value}")
    out.mkdir(parents=True, exist_ok=True)
    key = jax.random.PRNGKey(seed)
    caught_warnings: list[str] = []

    if method in ("teng", "tdvp"):
        n = resolution or 24
        dt = dt or 0.01
        steps = steps or int(round(4.0 / dt))
        problem = ns.teng_problem(pde_name, reference_resolution=min(128, max(64, 2 * n)))
        pts, w = ns.grid_points(n)
        net = ns.PeriodicMLP(key, 2, (width,) * depth)
        net, ic_res = ns.fit_initial_condition(net, ns.teng_initial_condition(pts), pts, w, adam_steps=ic_steps,
                                               lbfgs_steps=ic_lbfgs_steps, iterations=200, subset_size=subset)
        every = max(1, steps // 20)
        start = time.perf_counter()
        if method == "teng":
            solver = ns.TENG(problem.equation, pts, w, dt=dt, scheme=scheme, subset_size=subset,
                             max_inner_iterations=inner_iterations, tolerance=tolerance)
            result, caught_warnings = _solve_reporting_misses(
                solver, net, steps, key=key, error_fn=problem.error, error_every=every,
                snapshot_every=max(1, steps // max(1, snapshots - 1)), progress=progress)
        else:
            result = ns.tdvp_solve(net, problem.equation, pts, w, final_time=steps * dt, dt=dt,
                                   save_times=np.linspace(0, steps * dt, max(2, snapshots)), error_fn=problem.error)
        wall = time.perf_counter() - start
        grid = problem.reference_points()
        side = problem.reference_resolution
        frames = [np.asarray(jax.vmap(s)(grid)).reshape(side, side) for _, s in result.snapshots]
        snap_times = [t for t, _ in result.snapshots]
        params = ns.parameter_count(net)
        extra = {"collocation": f"{n}x{n}", "ic_fit_residual": float(ic_res), "reference": "analytic" if pde_name == "heat" else "spectral ETDRK4"}
    else:
        start = time.perf_counter()
        if pde_name == "advection":
            dt = dt or 0.05
            steps = steps or 240
            net = ns.Siren(key, 1, (20, 20), bounds=(-2.0, 2.0))
            net, fit_rms = ns.fit_network(net, lambda x: ns.advection_pulse(x[0], 0.0), -2.0, 2.0, adam_steps=ic_steps,
                                          lm_steps=50)
            xs = jnp.linspace(-2, 2, resolution or 801)[:, None]

            def error(m, t):
                exact = ns.advection_pulse(xs[:, 0], t)
                return float(jnp.linalg.norm(jax.vmap(m)(xs) - exact) / jnp.linalg.norm(exact))

            solver = ns.INSR(ns.AdvectionField(0.25), -2.0, 2.0, dt=dt, num_samples=2000, max_iterations=iterations,
                             finish_steps=finish_steps, finish_method="levenberg_marquardt",
                             boundary_points=[[-2.0]], boundary_values=[0.0], tolerance=tolerance)
        else:
            dt = dt or 0.05
            steps = steps or 20
            two_pi = 2 * np.pi
            net = ns.Siren(key, 2, (32, 32), bounds=(0.0, two_pi), periodic=True, omega0=5.0)
            net, fit_rms = ns.fit_network(net, ns.teng_initial_condition, (0.0, 0.0), (two_pi, two_pi),
                                          adam_steps=ic_steps)
            side = resolution or 48
            xs = ns.grid_points(side)[0]

            def error(m, t):
                exact = ns.heat_exact(xs, t, 0.1)
                return float(jnp.linalg.norm(jax.vmap(m)(xs) - exact) / jnp.linalg.norm(exact))

            solver = ns.INSR(ns.HeatField(0.1), (0.0, 0.0), (two_pi, two_pi), dt=dt, num_samples=2000,
                             max_iterations=iterations, finish_steps=finish_steps,
                             finish_method="levenberg_marquardt", tolerance=tolerance)
        result, caught_warnings = _solve_reporting_misses(
            solver, net, steps, key=key, error_fn=error, error_every=max(1, steps // 20),
            snapshot_every=max(1, steps // max(1, snapshots - 1)), progress=progress)
        wall = time.perf_counter() - start
        snap_times = [t for t, _ in result.snapshots]
        frames = [np.asarray(jax.vmap(s)(xs)) for _, s in result.snapshots]
        if pde_name == "heat":
            frames = [f.reshape(side, side) for f in frames]
        params = ns.parameter_count(net)
        extra = {"ic_fit_rms": fit_rms, "reference": "exact"}

    paths = {"error_plot": out / "error_vs_time.png", "snapshots": out / "snapshots.png", "summary": out / "summary.json"}
    _plot_error(result.times, result.errors, paths["error_plot"], f"{method.upper()} {pde_name}")
    plot_snapshot_strip(np.stack(frames), snap_times, paths["snapshots"], title=f"{method.upper()} {pde_name}")
    summary = {
        "pde": pde_name,
        "method": method,
        "parameters": params,
        "dt": dt,
        "steps": steps,
        "final_time": steps * dt,
        "final_error": result.final_error,
        "times": result.times,
        "errors": result.errors,
        "failed_steps": result.failed_steps,
        "warnings": caught_warnings,
        "wall_s": wall,
        "seed": seed,
        **extra,
        "outputs": {k: str(v) for k, v in paths.items()},
    }
    paths["summary"].write_text(json.dumps(summary, indent=2, default=float))
    return summary


def print_summary_table(summary: dict) -> None:
    """A small human-readable summary table of a neural solve."""
    rows = [
        ("pde", summary["pde"]),
        ("method", summary["method"]),
        ("parameters", summary["parameters"]),
        ("dt x steps", f"{summary['dt']:g} x {summary['steps']} (T = {summary['final_time']:.4g})"),
        ("final rel. L2 error", f"{summary['final_error']:.3e} (vs {summary.get('reference', '-')})"),
        ("steps missing tolerance", len(summary["failed_steps"])),
        ("wall time", f"{summary['wall_s']:.1f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    for name, path in summary["outputs"].items():
        print(f"  {name:<{width}}  {path}")
