"""Convergence-order case for the finite-difference Dirichlet heat equation (run in float64)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp

from ..integrators import ExplicitRK, advance
from ..metrics import max_abs_error, observed_order
from ..pdes import DirichletHeat, dirichlet_heat_sine_modes
from ._result import VerificationResult


def dirichlet_heat_errors(
    order: int,
    resolutions: Sequence[int] = (16, 32, 64),
    final_time: float = 0.1,
    diffusivity: float = 0.1,
    modes: Sequence[int] = (1, 3),
    courant: float = 1.0,
) -> tuple[list[float], list[float]]:
    r"""Max-norm errors of :class:`~pdesolve.pdes.DirichletHeat` in 1D against sine modes.

    Solves $u_t = \nu u_{xx}$ on $(0, 1)$ with $u(0) = u(1) = 0$ from
    $u_0 = \sum_m \sin(m\pi x)$ to `final_time` with classical RK4, with the step chosen so that
    $\Delta t\,\rho \le$ `courant` ($\rho$ the PDE's stability radius, $\propto h^{-2}$). The
    time error is then $O(h^8)$, orders of magnitude below the $O(h^{\text{order}})$ spatial error.

    Returns ``(spacings, errors)``, coarse to fine.
    """
    spacings, errors = [], []
    for n in resolutions:
        pde = DirichletHeat(n, diffusivity, ndim=1, order=order, dtype=jnp.float64)
        x = pde.interior_coordinates()[0]
        u0 = dirichlet_heat_sine_modes(x, 0.0, diffusivity, modes)
        num_steps = max(1, math.ceil(final_time * pde.stability_radius() / courant))
        u = advance(ExplicitRK(pde, final_time / num_steps, "rk4"), u0, num_steps)
        spacings.append(pde.spacing[0])
        errors.append(float(max_abs_error(u, dirichlet_heat_sine_modes(x, final_time, diffusivity, modes))))
    return spacings, errors


def verify_dirichlet_heat_order(order: int, resolutions: Sequence[int] = (16, 32, 64)) -> VerificationResult:
    r"""Observed order of the order-`order` FD Dirichlet heat solver must be within 0.2 of `order`.

    1D heat on $(0, 1)$, $\nu = 0.1$, modes $\sin(\pi x) + \sin(3\pi x)$, $T = 0.1$, RK4 with
    $\Delta t \propto h^2$; the order is fitted from the two finest grids of `resolutions`.
    """
    spacings, errors = dirichlet_heat_errors(order, resolutions)
    observed = observed_order(errors, spacings)
    tol = 0.2
    return VerificationResult(
        f"dirichlet_heat_fd{order}_order",
        "N = " + "/".join(str(n) for n in resolutions) + ", RK4 dt ~ h^2",
        errors[-1],
        tol,
        abs(observed - order) <= tol,
        order=observed,
        design_order=float(order),
    )
