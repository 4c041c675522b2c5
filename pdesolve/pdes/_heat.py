"""Heat (diffusion) equation on a periodic grid."""

from __future__ import annotations

from typing import ClassVar

from jaxtyping import Array, ArrayLike

from ..spatial import PeriodicGrid, laplacian_symbol
from ._base import AbstractSpectralPDE, as_parameter


class Heat(AbstractSpectralPDE):
    r"""Heat equation $\partial_t u = \nu \Delta u$ on a periodic box (1D, 2D or 3D).

    Each Fourier mode decays as $\hat u_k(t) = e^{-\nu |k|^2 t}\hat u_k(0)$, so exponential
    integrators are exact in time.

    **Arguments:**

    - `grid`: the periodic grid.
    - `diffusivity`: $\nu \ge 0$ (an array, so it can be differentiated).
    """

    grid: PeriodicGrid
    diffusivity: Array
    num_channels: ClassVar[int] = 1
    is_linear: ClassVar[bool] = True

    def __init__(self, grid: PeriodicGrid, diffusivity: ArrayLike = 1.0):
        self.grid = grid
        self.diffusivity = as_parameter(diffusivity, "diffusivity", grid.dtype, nonnegative=True)

    def linear_symbol(self):
        return (self.diffusivity * laplacian_symbol(self.grid))[None].astype(self.grid.complex_dtype)
