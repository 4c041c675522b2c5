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
#: The registered field problems behind ``pdesolve solve <pde> --method <method>``.
_FIELD_PROBLEMS = {
    "teng": {"heat": "teng-heat", "allen-cahn": "teng-allen-cahn", "burgers": "teng-burgers"},
    "insr": {"advection": "insr-advection", "heat": "insr-heat"},
}
_FIELD_PROBLEMS["tdvp"] = _FIELD_PROBLEMS["teng"]
#: Levenberg-Marquardt steps after Adam in INSR's initial fit (the 1D pulse needs them).
_INSR_FIT_LM_STEPS = {"insr-advection": 50}


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
    width: int | None = None,
    depth: int | None = None,
    subset: int | None = None,
    inner_iterations: int | None = None,
    tolerance: float | None = None,
    scheme: str = "heun",
    iterations: int = 300,
    finish_steps: int = 10,
    ic_steps: int | None = None,
    ic_lbfgs_steps: int | None = None,
    ic_iterations: int | None = None,
    seed: int = 0,
    snapshots: int = 5,
    progress: bool = True,
    config=None,
    eval_resolution: int | None = None,
) -> dict:
    r"""Run TENG / TDVP (``teng-*`` problems on [0, 2π)², float64) or INSR (``insr-advection``,
    ``insr-heat``) on the registered field problem that ``pde_name`` and ``method`` name.

    Writes ``error_vs_time.png``, ``snapshots.png`` and ``summary.json`` into ``out``; returns
    the summary. ``resolution`` is the collocation grid (TENG/TDVP) and the evaluation grid.
    ``ic_steps`` Adam steps (then, for TENG/TDVP, ``ic_lbfgs_steps`` L-BFGS steps) fit the initial
    condition, followed by ``ic_iterations`` least-squares projections (TENG/TDVP); INSR runs ``iterations`` Adam iterations and ``finish_steps`` Levenberg-Marquardt
    iterations per step, and holds the problem's boundary data (the inflow value u(-2) = 0 for
    advection). The command-line choices (``scheme``, ``finish_steps``) become solver objects here.

    TENG takes its grid, network, time step and inner solve from ``config`` (a
    :class:`~pdesolve.neural_fields.TENGConfig`, default ``cpu``); the other arguments, when
    given, override it. It starts from the configuration's shipped initial fit when that fits
    the problem's initial condition with the network's shape, and fits otherwise. With
    ``eval_resolution`` N, the network at the final time is written to
    ``final_field.npy`` on the N x N grid $x_i = 2\pi i/N$ (``[i, j]``, x first, float64), its
    weights to ``final_network.eqx``, and the summary's ``relative_l2`` is its error there.
    """
    import jax

    from .. import neural_fields as nf
    from ..optim import levenberg_marquardt
    from ..plotting import plot_snapshot_strip
    from ..problems import FieldProblem, get

    jax.config.update("jax_enable_x64", True)
    if method not in NEURAL_METHODS:
        raise InvalidInputError(f"--method must be one of spectral, {', '.join(NEURAL_METHODS)}; got {method!r}")
    allowed = tuple(_FIELD_PROBLEMS[method])
    if pde_name not in allowed:
        raise InvalidInputError(f"--method {method} supports the PDEs {allowed}, got {pde_name!r}")
    if steps is not None and steps <= 0:
        raise InvalidInputError(f"--steps must be positive, got {steps}")
    if dt is not None and not dt > 0:
        raise InvalidInputError(f"--dt must be positive, got {dt}")
    if tolerance is not None and not tolerance > 0:
        raise InvalidInputError(f"--tolerance must be positive, got {tolerance}")
    for flag, value in (("--width", width), ("--depth", depth), ("--resolution", resolution), ("--subset", subset),
                        ("--inner-iterations", inner_iterations), ("--iterations", iterations)):
        if value is not None and value < 1:
            raise InvalidInputError(f"{flag} must be a positive integer, got {value}")
    network_given = (width, depth)  # INSR: the problem's network unless either is given
    schemes = {"heun": nf.Heun, "euler": nf.Euler}
    if scheme not in schemes:
        raise InvalidInputError(f"--scheme must be one of {', '.join(schemes)}, got {scheme!r}")
    if method == "teng":
        config = nf.teng_config("cpu") if config is None else config
        tolerance = config.tolerance if tolerance is None else tolerance
        resolution = resolution or config.collocation
        width = width or config.width
        depth = config.depth - 2 if depth is None else depth
        subset = subset or config.subset_size
        inner_iterations = inner_iterations or config.inner_iterations
        ic_steps = config.ic_adam_steps if ic_steps is None else ic_steps
        ic_lbfgs_steps = config.ic_lbfgs_steps if ic_lbfgs_steps is None else ic_lbfgs_steps
        dt = dt or config.dt
    if tolerance is None:
        tolerance = 1e-3 if method == "insr" else 1e-6
    width, depth = width or 20, 3 if depth is None else depth
    inner_iterations = inner_iterations or 3
    ic_steps = 3000 if ic_steps is None else ic_steps
    ic_lbfgs_steps = 5000 if ic_lbfgs_steps is None else ic_lbfgs_steps
    if eval_resolution is not None and (method != "teng" or eval_resolution < 2):
        raise InvalidInputError(f"--eval-resolution needs --method teng and N >= 2, got {eval_resolution}")
    for flag, value in (("--finish-steps", finish_steps), ("--ic-steps", ic_steps), ("--ic-lbfgs-steps", ic_lbfgs_steps),
                        ("--ic-iterations", 0 if ic_iterations is None else ic_iterations)):
        if value < 0:
            raise InvalidInputError(f"{flag} must be >= 0, got {value}")
    problem = get(_FIELD_PROBLEMS[method][pde_name], FieldProblem)
    equation = nf.field_equation(problem)
    dt = dt or problem.dt
    steps = steps or int(round(problem.final_time / dt))
    out.mkdir(parents=True, exist_ok=True)
    key = jax.random.PRNGKey(seed)
    caught_warnings: list[str] = []
    snapshot_every = max(1, steps // max(1, snapshots - 1))

    if method in ("teng", "tdvp"):
        n = resolution or 24
        reference = problem.reference(min(128, max(64, 2 * n)))
        pts, w = problem.collocation(n)
        net = nf.build_network(problem, key, hidden=(width,) * depth)
        shipped = config.shipped_initial_network(problem, net) if method == "teng" else None
        if shipped is not None:
            net = shipped
            u0 = np.asarray(problem.initial_values(pts))
            misfit = np.asarray(jax.vmap(net)(pts)) - u0
            ic_res = np.sqrt(np.sum(np.asarray(w) * misfit**2) / np.sum(np.asarray(w) * u0**2))
        else:
            if ic_iterations is None:
                ic_iterations = config.ic_iterations if method == "teng" else 200
            ic_subset = None if subset is None else min(subset, nf.parameter_count(net))
            net, ic_res = nf.fit_initial_condition(net, problem.initial_values(pts), pts, w, adam_steps=ic_steps,
                                                   lbfgs_steps=ic_lbfgs_steps, iterations=ic_iterations,
                                                   subset_size=ic_subset)
        if method == "teng":
            solver = nf.TENG(equation, pts, w, dt=dt, scheme=schemes[scheme](), subset_size=subset,
                             max_inner_iterations=inner_iterations, tolerance=tolerance, jacobian=config.jacobian())
        else:
            solver = nf.TDVP(equation, pts, w, dt=dt)
        extra = {"collocation": f"{n}x{n}", "ic_fit_residual": float(ic_res),
                 "initial_fit": config.initial_fit if shipped is not None else "fitted",
                 **({"config": config.name} if method == "teng" else {}),
                 "reference": "analytic" if problem.exact is not None else "spectral ETDRK4"}
    else:
        hidden = None
        if network_given != (None, None):
            declared = problem.network.hidden
            hidden = (network_given[0] or declared[0],) * (network_given[1] or len(declared))
        net = nf.build_network(problem, key, hidden=hidden)
        net, fit_rms = nf.fit_network(net, problem.initial_values, problem.lower, problem.upper, adam_steps=ic_steps,
                                      lm_steps=_INSR_FIT_LM_STEPS.get(problem.name, 0))
        reference = problem.reference(resolution)
        boundary = dict(boundary_points=problem.boundary_points, boundary_values=problem.boundary_values) \
            if problem.boundary_points else {}
        finish = nf.LeastSquaresFinish(levenberg_marquardt(), steps=finish_steps) if finish_steps > 0 else None
        solver = nf.INSR(equation, problem.lower, problem.upper, dt=dt, num_samples=2000, max_iterations=iterations,
                         finish=finish, tolerance=tolerance, **boundary)
        extra = {"ic_fit_rms": fit_rms, "reference": "exact"}
    start = time.perf_counter()
    result, caught_warnings = _solve_reporting_misses(
        solver, net, steps, key=key, error_fn=reference.error, error_every=max(1, steps // 20),
        snapshot_every=snapshot_every, progress=progress)
    wall = time.perf_counter() - start
    snap_times = [t for t, _ in result.snapshots]
    side = reference.resolution
    frames = [np.asarray(jax.vmap(s)(reference.points)) for _, s in result.snapshots]
    if problem.ndim == 2:
        frames = [f.reshape(side, side) for f in frames]
    params = nf.parameter_count(net)
    if eval_resolution is not None:
        extra.update(_write_final_field(problem, result.state, steps * dt, int(eval_resolution), out))

    paths = {"error_plot": out / "error_vs_time.png", "snapshots": out / "snapshots.png", "summary": out / "summary.json"}
    _plot_error(result.times, result.errors, paths["error_plot"], f"{method.upper()} {pde_name}")
    plot_snapshot_strip(np.stack(frames), snap_times, paths["snapshots"], title=f"{method.upper()} {pde_name}")
    summary = {
        "problem": problem.name,
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


def _write_final_field(problem, net, final_time: float, n: int, out: Path) -> dict:
    """``final_field.npy`` (the network on the n x n grid at ``final_time``), ``final_network.eqx``
    and the relative L2 error against the problem's reference on that grid."""
    import equinox as eqx
    import jax

    reference = problem.reference(n)
    field = np.asarray(jax.jit(jax.vmap(net))(reference.points), np.float64).reshape(n, n)
    np.save(out / "final_field.npy", field)
    eqx.tree_serialise_leaves(out / "final_network.eqx", net)
    ref = np.asarray(reference.values(final_time), np.float64)
    return {"eval_resolution": n, "relative_l2": float(np.linalg.norm(field.ravel() - ref) / np.linalg.norm(ref)),
            "final_field": str(out / "final_field.npy"), "final_network": str(out / "final_network.eqx")}


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
