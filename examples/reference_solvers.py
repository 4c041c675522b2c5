"""Reference solvers: 2D Navier-Stokes (Kolmogorov flow) and a check against Taylor-Green.

A pseudo-spectral vorticity solver with the ETDRK4 integrator on a periodic grid. The first
part checks it against the exact Taylor-Green vortex (the nonlinear term vanishes, so the
vorticity only decays); the second rolls out Kolmogorov flow from a random initial field and
plots the vorticity. Run with ``python examples/reference_solvers.py [--quick]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)  # the Taylor-Green check runs in float64

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import pdesolve as ps  # noqa: E402
from pdesolve.integrators import ETDRK4, rollout  # noqa: E402
from pdesolve.pdes import NavierStokes2D, kolmogorov_forcing, taylor_green_vorticity  # noqa: E402
from pdesolve.plotting import plot_snapshot_strip  # noqa: E402
from pdesolve.spatial import PeriodicGrid  # noqa: E402


def run(out: Path, quick: bool = False) -> dict:
    n, steps = (32, 200) if quick else (128, 5000)

    # 1. Taylor-Green: exact solution, so the error is the solver's alone.
    grid = PeriodicGrid(n, ndim=2, dtype=jnp.float64)
    pde = NavierStokes2D(grid, viscosity=0.01)
    w0 = taylor_green_vorticity(grid, 0.0, 0.01)
    w_end = rollout(ETDRK4(pde, dt=0.01), w0, 100, save_every=100)[-1]
    tg_error = float(ps.metrics.relative_l2(w_end, taylor_green_vorticity(grid, 1.0, 0.01)))

    # 2. Kolmogorov flow: forcing sin(4y), linear drag, random smooth initial vorticity.
    grid = PeriodicGrid(n, ndim=2, dtype=jnp.float32)
    pde = NavierStokes2D(grid, viscosity=1e-2, drag=0.1, forcing=kolmogorov_forcing(grid, 4))
    w0 = ps.initial_conditions.random_fourier_series(jax.random.PRNGKey(0), grid)
    save_every = steps // 4
    trajectory = rollout(ETDRK4(pde, dt=0.004), w0, steps, save_every=save_every)  # (5, 1, n, n)
    times = [k * save_every * 0.004 for k in range(len(trajectory))]
    figure = "reference_kolmogorov_vorticity.png"
    plot_snapshot_strip(np.asarray(trajectory[:, 0]), times, out / figure,
                        title=f"Kolmogorov flow vorticity, {n}x{n}, ETDRK4")
    return {"taylor_green_relative_l2": tg_error, "kolmogorov_final_max_vorticity": float(jnp.max(jnp.abs(trajectory[-1]))),
            "figures": [figure]}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from _common import example_main

    example_main(run, __doc__)
