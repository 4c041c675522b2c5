"""Linear advection on a periodic grid."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from ..spatial import PeriodicGrid, derivative_operator
from ._base import AbstractSpectralPDE, as_parameter


class Advection(AbstractSpectralPDE):
    r"""Linear advection $\partial_t u + c \cdot \nabla u = 0$ on a periodic box.

    The exact solution is the translate $u(x, t) = u_0(x - c t)$.

    **Arguments:**

    - `grid`: the periodic grid.
    - `velocity`: constant advection velocity $c$, one entry per axis (or a scalar for 1D).
    """

    grid: PeriodicGrid
    velocity: Array
    num_channels: ClassVar[int] = 1
    is_linear: ClassVar[bool] = True

    def __init__(self, grid: PeriodicGrid, velocity: ArrayLike = 1.0):
        self.grid = grid
        velocity = as_parameter(velocity, "velocity", grid.dtype)
        self.velocity = jnp.broadcast_to(velocity, (grid.ndim,))

    def linear_symbol(self):
        d = derivative_operator(self.grid)
        c = self.velocity.astype(self.grid.complex_dtype)
        return -jnp.tensordot(c, d, axes=1)[None]
