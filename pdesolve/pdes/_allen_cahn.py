"""Allen-Cahn reaction-diffusion equation."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
from jaxtyping import Array, ArrayLike

from ..spatial import PeriodicGrid, irfft, laplacian_symbol, rfft
from ._base import AbstractNonlinearSpectralPDE, as_parameter


class AllenCahn(AbstractNonlinearSpectralPDE):
    r"""Allen-Cahn equation $\partial_t u = \epsilon \Delta u + u - u^3$ on a periodic box.

    The linear part $\epsilon\Delta + 1$ is treated by the integrator, the cubic term explicitly.

    **Arguments:**

    - `grid`: the periodic grid.
    - `diffusivity`: $\epsilon \ge 0$.
    - `dealiasing_fraction`: 2/3 by default (use 1/2 to remove all cubic aliasing).
    """

    grid: PeriodicGrid
    diffusivity: Array
    dealiasing_fraction: float = eqx.field(static=True)
    num_channels: ClassVar[int] = 1

    def __init__(self, grid: PeriodicGrid, diffusivity: ArrayLike = 0.005, dealiasing_fraction: float = 2 / 3):
        self.grid = grid
        self.diffusivity = as_parameter(diffusivity, "diffusivity", grid.dtype, nonnegative=True)
        self.dealiasing_fraction = dealiasing_fraction

    def linear_symbol(self):
        return (self.diffusivity * laplacian_symbol(self.grid) + 1.0)[None].astype(self.grid.complex_dtype)

    def nonlinear(self, u_hat):
        u = irfft(self.dealias(u_hat), self.grid)
        return -rfft(u**3, self.grid)
