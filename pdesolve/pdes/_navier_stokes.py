"""Incompressible 2D Navier-Stokes in vorticity-streamfunction form, and its forcings."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._errors import InvalidInputError
from ..spatial import (
    PeriodicGrid,
    derivative_operator,
    irfft,
    laplacian_symbol,
    rfft,
    velocity_from_vorticity_hat,
)
from ._base import AbstractNonlinearSpectralPDE, as_parameter


class NavierStokes2D(AbstractNonlinearSpectralPDE):
    r"""2D incompressible Navier-Stokes, vorticity-streamfunction form, on a periodic box:

    $$\partial_t \omega + \mathbf{u}\cdot\nabla\omega = \nu\Delta\omega - \alpha\,\omega + f,
    \qquad -\Delta\psi = \omega,\qquad \mathbf{u} = (\partial_y\psi, -\partial_x\psi).$$

    The state is the vorticity $\omega$ with one channel. The advection term is computed
    pseudo-spectrally with dealiasing; viscosity and drag form the linear part.

    **Dealiasing convention** (as in exponax): the 2/3 rule zeroes the modes outside the box
    $|m_j| < \tfrac23 \cdot N_j/2$ in the *inputs* of the products, so the modes inside it evolve
    alias-free and nothing outside feeds back into them. The modes outside the box are not
    resolved: they hold the products' aliases (damped only by $\nu|k|^2 + \alpha$), and in an
    under-resolved flow they can carry a sizeable share of the field's variance. Read spectra and
    pointwise errors on the resolved box (``pde.dealias(rfft(w, grid))``), or solve on a finer grid
    and truncate (as :func:`pdesolve.datasets.generate` does with its 4x solver grid).

    **Arguments:**

    - `grid`: a 2D periodic grid.
    - `viscosity`: kinematic viscosity $\nu \ge 0$.
    - `drag`: linear (Rayleigh) drag $\alpha \ge 0$.
    - `forcing`: time-independent vorticity forcing $f$, shaped ``(1, nx, ny)`` or ``(nx, ny)``,
      e.g. from :func:`kolmogorov_forcing` or :func:`fno_forcing`. ``None`` for unforced flow.
    - `dealiasing_fraction`: 2/3 rule by default.
    """

    grid: PeriodicGrid
    viscosity: Array
    drag: Array
    forcing_hat: Array | None
    dealiasing_fraction: float = eqx.field(static=True)
    num_channels: ClassVar[int] = 1

    def __init__(
        self,
        grid: PeriodicGrid,
        viscosity: ArrayLike = 1e-3,
        drag: ArrayLike = 0.0,
        forcing: Float[ArrayLike, "1 x y"] | None = None,
        dealiasing_fraction: float = 2 / 3,
    ):
        if grid.ndim != 2:
            raise InvalidInputError(f"NavierStokes2D needs a 2D grid, got a {grid.ndim}D grid")
        self.grid = grid
        self.viscosity = as_parameter(viscosity, "viscosity", grid.dtype, nonnegative=True)
        self.drag = as_parameter(drag, "drag", grid.dtype, nonnegative=True)
        if forcing is None:
            self.forcing_hat = None
        else:
            forcing = jnp.asarray(forcing, dtype=grid.dtype)
            if forcing.shape == grid.shape:
                forcing = forcing[None]
            if forcing.shape != (1,) + grid.shape:
                raise InvalidInputError(
                    f"forcing has shape {forcing.shape}; expected {(1,) + grid.shape} or {grid.shape}"
                )
            self.forcing_hat = rfft(forcing, grid)
        self.dealiasing_fraction = dealiasing_fraction

    def linear_symbol(self):
        lap = laplacian_symbol(self.grid)
        return (self.viscosity * lap - self.drag)[None].astype(self.grid.complex_dtype)

    def velocity(self, omega: Float[Array, "1 x y"]) -> Float[Array, "2 x y"]:
        """Velocity $(u, v)$ induced by the vorticity field `omega`."""
        return irfft(self._velocity_hat(rfft(omega, self.grid)), self.grid)

    def _velocity_hat(self, omega_hat):
        return velocity_from_vorticity_hat(omega_hat[0], self.grid)

    def nonlinear(self, u_hat):
        # Basdevant (1983) form of the advection term: for divergence-free u,
        #   u . grad(omega) = d_x d_y (v^2 - u^2) + (d_x^2 - d_y^2)(u v),
        # so 2 inverse + 2 forward FFTs instead of 4 + 1. With 2/3 dealiasing the products
        # are alias-free on the kept modes, so this equals the convective form there exactly.
        d = derivative_operator(self.grid)
        u, v = irfft(self._velocity_hat(self.dealias(u_hat)), self.grid)
        q = rfft(jnp.stack([v * v - u * u, u * v]), self.grid)
        out = -(d[0] * d[1] * q[0] + (d[0] * d[0] - d[1] * d[1]) * q[1])[None]
        if self.forcing_hat is not None:
            out = out + self.forcing_hat
        return out


def kolmogorov_forcing(
    grid: PeriodicGrid, wavenumber: int = 4, amplitude: float = 1.0
) -> Float[Array, "1 x y"]:
    r"""Vorticity of the Kolmogorov body force $\mathbf{F} = (A \sin(k' y), 0)$, $k' = 2\pi k/L_y$.

    Its curl is $f = \partial_x F_y - \partial_y F_x = -A k' \cos(k' y)$.
    """
    if grid.ndim != 2:
        raise InvalidInputError("kolmogorov_forcing needs a 2D grid")
    y = grid.coordinates()[1]
    k = 2 * jnp.pi * wavenumber / grid.extent[1]
    return (-amplitude * k * jnp.cos(k * y))[None].astype(grid.dtype)


def fno_forcing(grid: PeriodicGrid) -> Float[Array, "1 x y"]:
    r"""The FNO Navier-Stokes benchmark forcing $f = 0.1(\sin 2\pi(x+y) + \cos 2\pi(x+y))$ on $(0,1)^2$."""
    if grid.ndim != 2:
        raise InvalidInputError("fno_forcing needs a 2D grid")
    x, y = grid.coordinates()
    phase = 2 * jnp.pi * (x + y)
    return (0.1 * (jnp.sin(phase) + jnp.cos(phase)))[None].astype(grid.dtype)
