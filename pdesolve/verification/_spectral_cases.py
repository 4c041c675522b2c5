"""Analytic regression cases for the periodic spectral solvers (run in float64)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..integrators import ETDRK4, advance, etdrk
from ..metrics import max_abs_error, observed_order, relative_l2
from ..pdes import AllenCahn, Burgers, Heat, NavierStokes2D, cole_hopf_burgers, heat_fourier_mode, taylor_green_vorticity
from ..spatial import PeriodicGrid
from ._result import VerificationResult


def _float64_grid(num_points, ndim, extent=2 * np.pi):
    return PeriodicGrid(num_points, extent=extent, ndim=ndim, dtype=jnp.float64)


def verify_periodic_heat(resolution: int = 32, final_time: float = 1.0, num_steps: int = 10) -> VerificationResult:
    r"""2D periodic heat with three Fourier modes, ETDRK4 to $T=1$; max error must be $\le 10^{-12}$."""
    grid = _float64_grid(resolution, 2)
    nu = 0.1
    modes = ((1, 0), (2, 3), (4, -1))
    pde = Heat(grid, nu)
    u = advance(ETDRK4(pde, final_time / num_steps), heat_fourier_mode(grid, 0.0, nu, modes), num_steps)
    error = float(max_abs_error(u, heat_fourier_mode(grid, final_time, nu, modes)))
    tol = 1e-12
    return VerificationResult("periodic_heat_fourier_modes", f"{resolution}x{resolution}, {num_steps} steps", error, tol, error <= tol)


def verify_taylor_green(resolution: int = 64, final_time: float = 1.0, num_steps: int = 100) -> VerificationResult:
    r"""Taylor-Green vortex decay under 2D Navier-Stokes ($\nu = 0.01$, $k=2$) to $T=1$; rel. error $\le 10^{-10}$."""
    grid = _float64_grid(resolution, 2)
    nu = 0.01
    pde = NavierStokes2D(grid, viscosity=nu)
    w0 = taylor_green_vorticity(grid, 0.0, nu, wavenumber=2)
    w = advance(ETDRK4(pde, final_time / num_steps), w0, num_steps)
    error = float(relative_l2(w, taylor_green_vorticity(grid, final_time, nu, wavenumber=2)))
    tol = 1e-10
    return VerificationResult("navier_stokes_taylor_green", f"{resolution}x{resolution}, {num_steps} steps", error, tol, error <= tol)


def verify_burgers_cole_hopf(resolution: int = 128, final_time: float = 1.0, num_steps: int = 100) -> VerificationResult:
    r"""1D viscous Burgers ($\nu = 0.05$) against the Cole-Hopf solution at $T=1$; rel. error $\le 10^{-6}$."""
    grid = _float64_grid(resolution, 1)
    nu = 0.05
    x = grid.coordinates()[0]
    pde = Burgers(grid, viscosity=nu)
    u = advance(ETDRK4(pde, final_time / num_steps), cole_hopf_burgers(x, 0.0, nu), num_steps)
    error = float(relative_l2(u, cole_hopf_burgers(x, final_time, nu)))
    tol = 1e-6
    return VerificationResult("burgers_cole_hopf", f"{resolution}, {num_steps} steps", error, tol, error <= tol)


def etdrk_temporal_errors(order: int, step_counts=(20, 40, 80), resolution: int = 64, final_time: float = 2.0):
    r"""Errors of ETDRK`order` on stiff 1D Allen-Cahn ($\epsilon = 0.01$, $[0, 2\pi)$) vs a fine reference.

    The reference is ETDRK4 with 16x the finest step count. Returns ``(dts, errors)``.
    """
    grid = _float64_grid(resolution, 1)
    pde = AllenCahn(grid, diffusivity=0.01)
    x = grid.coordinates()[0]
    u0 = (0.5 * jnp.sin(x) + 0.3 * jnp.cos(3 * x) + 0.1 * jnp.sin(7 * x))[None]
    fine = 16 * step_counts[-1]
    reference = advance(ETDRK4(pde, final_time / fine), u0, fine)
    dts, errors = [], []
    for n in step_counts:
        u = advance(etdrk(pde, final_time / n, order), u0, n)
        dts.append(final_time / n)
        errors.append(float(relative_l2(u, reference)))
    return dts, errors


def verify_etdrk4_order(step_counts=(20, 40, 80)) -> VerificationResult:
    """Observed temporal order of ETDRK4 on stiff Allen-Cahn must be within 0.3 of 4."""
    dts, errors = etdrk_temporal_errors(4, step_counts)
    order = observed_order(errors, dts)
    return VerificationResult(
        "etdrk4_order_allen_cahn",
        "64, " + "/".join(str(n) for n in step_counts) + " steps",
        errors[-1],
        0.3,
        abs(order - 4) <= 0.3,
        order=order,
        design_order=4.0,
    )
