r"""Implicit-explicit (IMEX) schemes: Crank-Nicolson on the stiff linear part, explicit RK on the rest.

Because $\mathcal{L}$ is diagonal in Fourier space, every implicit solve is a division.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from .._errors import InvalidInputError
from ..pdes import AbstractSpectralPDE
from ._base import AbstractSpectralStepper, check_time_step


def _check_spectral(pde):
    if not isinstance(pde, AbstractSpectralPDE):
        raise InvalidInputError(
            f"IMEX schemes need a spectral (periodic) PDE, got {type(pde).__name__}"
        )


class CrankNicolsonEuler(AbstractSpectralStepper):
    r"""Crank-Nicolson for $\mathcal{L}$, forward Euler for $\mathcal{N}$ (order 1 overall).

    $(1 - \tfrac{\Delta t}{2}L)\hat u_{n+1} = (1 + \tfrac{\Delta t}{2}L)\hat u_n + \Delta t\,\hat N(\hat u_n)$.
    This is the scheme used to generate the FNO Navier-Stokes benchmark data.
    """

    pde: AbstractSpectralPDE
    dt: float = eqx.field(static=True)
    symbol: Array

    def __init__(self, pde: AbstractSpectralPDE, dt: float):
        _check_spectral(pde)
        self.pde = pde
        self.dt = check_time_step(dt)
        self.symbol = jnp.broadcast_to(pde.linear_symbol(), pde.spectral_shape)

    def step_fourier(self, u_hat):
        half = 0.5 * self.dt * self.symbol
        rhs = (1 + half) * u_hat + self.dt * self.pde.nonlinear(u_hat)
        return rhs / (1 - half)


class CrankNicolsonRK3(AbstractSpectralStepper):
    r"""Low-storage IMEX Crank-Nicolson / RK3 of Spalart, Moser & Rogers (J. Comput. Phys. 1991).

    Three stages $k = 1, 2, 3$:
    $(1 - \beta_k\Delta t L)\hat u_k = (1 + \alpha_k\Delta t L)\hat u_{k-1}
    + \gamma_k\Delta t\hat N(\hat u_{k-1}) + \zeta_k\Delta t\hat N(\hat u_{k-2})$,
    with $\alpha = (29/96, -3/40, 1/6)$, $\beta = (37/160, 5/24, 1/6)$,
    $\gamma = (8/15, 5/12, 3/4)$, $\zeta = (0, -17/60, -5/12)$.
    Third order for the explicit part, second order overall; A-stable for the linear part.
    """

    pde: AbstractSpectralPDE
    dt: float = eqx.field(static=True)
    symbol: Array

    _alpha = (29 / 96, -3 / 40, 1 / 6)
    _beta = (37 / 160, 5 / 24, 1 / 6)
    _gamma = (8 / 15, 5 / 12, 3 / 4)
    _zeta = (0.0, -17 / 60, -5 / 12)

    def __init__(self, pde: AbstractSpectralPDE, dt: float):
        _check_spectral(pde)
        self.pde = pde
        self.dt = check_time_step(dt)
        self.symbol = jnp.broadcast_to(pde.linear_symbol(), pde.spectral_shape)

    def step_fourier(self, u_hat):
        dt, lin = self.dt, self.symbol
        n_prev = jnp.zeros_like(u_hat)
        for a, b, g, z in zip(self._alpha, self._beta, self._gamma, self._zeta):
            n_now = self.pde.nonlinear(u_hat)
            rhs = (1 + a * dt * lin) * u_hat + g * dt * n_now + z * dt * n_prev
            u_hat = rhs / (1 - b * dt * lin)
            n_prev = n_now
        return u_hat
