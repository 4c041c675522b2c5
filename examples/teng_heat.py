"""Neural-field solvers: TENG marches a network's weights through the 2D heat equation.

The solution u(x, y, t) of u_t = 0.1 Δu on the periodic square [0, 2π)² lives in the weights
of a small periodic MLP. Each TENG step builds the Heun target in function space and moves the
weights onto it by least-squares projections on random parameter subsets (no learning rate).
The error is measured against the exact solution. Run with
``python examples/teng_heat.py [--quick]``; ``pdesolve solve heat --method teng`` does the same
from the shell.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)  # TENG works in float64

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import pdesolve.neural_fields as nf  # noqa: E402
from pdesolve import problems  # noqa: E402


def run(out: Path, quick: bool = False) -> dict:
    n, width, steps, dt = (12, 8, 4, 0.01) if quick else (16, 12, 50, 0.01)
    key = jax.random.PRNGKey(0)
    problem = problems.get("teng-heat")                     # heat on [0, 2π)², exact solution as the reference
    reference = problem.reference()                         # the error grid
    points, weights = problem.collocation(n)                # collocation grid and quadrature weights
    net = nf.build_network(problem, key, hidden=(width, width, width))
    net, fit = nf.fit_initial_condition(net, problem.initial_values(points), points, weights,
                                        adam_steps=300 if quick else 2000, iterations=20 if quick else 100)
    solver = nf.TENG(nf.field_equation(problem), points, weights, dt=dt, scheme=nf.Heun(), max_inner_iterations=3)
    result = solver.solve(net, steps, key=key, error_fn=reference.error, error_every=1, progress=False)

    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.semilogy(result.times, result.errors, marker="o", ms=3)
    ax.set(xlabel="t", ylabel="relative L2 error vs exact", title=f"TENG-Heun, heat, {nf.parameter_count(net)} weights")
    ax.grid(True, which="both", alpha=0.3)
    figure = "teng_heat_error.png"
    fig.savefig(out / figure, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return {"initial_fit_residual": float(fit), "final_relative_l2": result.final_error,
            "final_time": steps * dt, "parameters": nf.parameter_count(net), "figures": [figure]}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from _common import example_main

    example_main(run, __doc__)
