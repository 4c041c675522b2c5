"""The demo's neural PDE solver part: TENG on the 2D heat problem against its exact solution."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from ._parts import PartContext


def neural_solver(ctx: PartContext) -> dict:
    r"""TENG-Heun (``teng_config("cpu")`` on a coarser collocation grid, from its shipped initial fit)
    on ``teng-heat`` for ``config.teng_steps`` steps; the relative $L^2$ error against the exact
    solution at every step."""
    import jax

    from .. import neural_fields as nf
    from ..plotting import pyplot
    from ..problems import FieldProblem, get

    c = ctx.config
    problem = get("teng-heat", FieldProblem)
    config = dataclasses.replace(nf.teng_config("cpu"), collocation=c.teng_collocation, subset_size=c.teng_subset)
    net = config.shipped_initial_network(problem, config.network(problem, jax.random.PRNGKey(0)))
    if net is None:
        ctx.fail(f"the shipped initial fit {config.initial_fit!r} does not fit {problem.name}")
    reference = problem.reference(64)
    solver = config.solver(problem)
    with warnings.catch_warnings(record=True) as caught, ctx.timer() as t:
        warnings.simplefilter("always", nf.InnerSolveWarning)
        result = solver.solve(net, c.teng_steps, key=jax.random.PRNGKey(c.seed), error_fn=reference.error,
                              error_every=1, progress=ctx.progress)
    misses = [str(w.message) for w in caught if issubclass(w.category, nf.InnerSolveWarning)]
    times, errors = [float(x) for x in result.times], [float(e) for e in result.errors]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.semilogy(times, errors, marker="o", ms=3)
    ax.set(xlabel="t", ylabel="relative L2 error vs exact", title="TENG on 2D heat")
    ax.grid(True, which="both", alpha=0.3)
    figure = ctx.out / "teng_error_vs_time.png"
    fig.savefig(figure, dpi=110, bbox_inches="tight")
    plt.close(fig)
    final_time = c.teng_steps * config.dt
    if not np.isfinite(result.final_error):
        ctx.fail(f"TENG's error is not finite at t = {final_time:g}", times=times, errors=errors)
    return {
        "kind": "solve",
        "method": "teng",
        "problem": problem.name,
        "config": config.name,
        "collocation": f"{config.collocation}x{config.collocation}",
        "parameters": nf.parameter_count(net),
        "dt": config.dt,
        "steps": c.teng_steps,
        "final_time": final_time,
        "final_error": float(result.final_error),
        "reference": "exact",
        "times": times,
        "errors": errors,
        "inner_solve_misses": len(misses),
        "figures": [str(figure)],
        "summary": (f"TENG on 2D heat ({nf.parameter_count(net)} parameters, {config.collocation}^2 points) to "
                    f"t = {final_time:g}: rel. L2 error {result.final_error:.2e} vs exact"),
    }
