"""Viscous Burgers equation."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from ..spatial import PeriodicGrid, derivative_operator, irfft, laplacian_symbol, rfft
from ._base import AbstractNonlinearSpectralPDE, as_parameter


class Burgers(AbstractNonlinearSpectralPDE):
    r"""Viscous Burgers equation $\partial_t u + (u\cdot\nabla) u = \nu \Delta u$ on a periodic box.

    In 1D this is $u_t + u u_x = \nu u_{xx}$ (evaluated as $-\tfrac12 (u^2)_x$); in $d$
    dimensions the state is the velocity vector with $d$ channels.

    **Arguments:**

    - `grid`: the periodic grid.
    - `viscosity`: $\nu \ge 0$.
    - `dealiasing_fraction`: 2/3 rule by default.
    """

    grid: PeriodicGrid
    viscosity: Array
    dealiasing_fraction: float = eqx.field(static=True)

    def __init__(self, grid: PeriodicGrid, viscosity: ArrayLike = 0.01, dealiasing_fraction: float = 2 / 3):
        self.grid = grid
        self.viscosity = as_parameter(viscosity, "viscosity", grid.dtype, nonnegative=True)
        self.dealiasing_fraction = dealiasing_fraction

    @property
    def num_channels(self) -> int:  # type: ignore[override]
        return self.grid.ndim

    def linear_symbol(self):
        return (self.viscosity * laplacian_symbol(self.grid))[None].astype(self.grid.complex_dtype)

    def nonlinear(self, u_hat):
        d = derivative_operator(self.grid)
        u_hat = self.dealias(u_hat)
        if self.grid.ndim == 1:
            u = irfft(u_hat, self.grid)
            return -0.5 * d * rfft(u * u, self.grid)
        u = irfft(u_hat, self.grid)  # (d, *grid)
        grad = irfft(d[None] * u_hat[:, None], self.grid)  # (d_component, d_axis, *grid)
        advection = jnp.einsum("j...,ij...->i...", u, grad)
        return -rfft(advection, self.grid)
