r"""A learned subgrid flux of vorticity: the correction in conservation form, from resolved-flow features."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import InvalidInputError
from ..neural_ode import PeriodicConvCorrection
from ..spatial import PeriodicGrid, derivative_operator, irfft, rfft, velocity_from_vorticity_hat

FEATURES = ("vorticity", "velocity_x", "velocity_y", "vorticity_dx", "vorticity_dy")


class VorticityFluxCorrection(eqx.Module):
    r"""$C_\theta(\omega) = -\nabla\cdot\mathbf F_\theta(\omega, \mathbf u, \nabla\omega)$: a learned subgrid vorticity flux.

    On a coarse grid the filtered vorticity equation misses the divergence of the subgrid flux,
    $\partial_t\bar\omega + \bar{\mathbf u}\cdot\nabla\bar\omega = \dots
    - \nabla\cdot(\overline{\mathbf u\omega} - \bar{\mathbf u}\bar\omega)$ (the large-eddy
    simulation closure). This correction models that term: a periodic CNN
    (:class:`~pdesolve.neural_ode.PeriodicConvCorrection`, 2 output channels) maps the resolved
    features $(\omega, u, v, \partial_x\omega, \partial_y\omega)$, each divided by its typical
    size, to a flux $\mathbf F_\theta$, whose divergence is taken spectrally. Unlike a free
    forcing it is conservative (it never changes the mean vorticity), and unlike a CNN on
    $\omega$ alone it sees the velocity, which depends on the whole field ($\mathbf u =
    \nabla^\perp\Delta^{-1}\omega$): the ingredients of the advective flux that Kochkov et al.
    (PNAS 2021) correct with learned interpolation. The features cost one forward and one inverse
    FFT, the divergence one of each. The network's last layer starts at zero, so an untrained
    correction is exactly zero.

    **Arguments:**

    - `grid`: the coarse 2D :class:`~pdesolve.spatial.PeriodicGrid`.
    - `width`, `depth`, `kernel_size`, `activation`: the CNN's (as for
      :class:`~pdesolve.neural_ode.PeriodicConvCorrection`).
    - `key`: PRNG key.
    - `scales`: the typical size of each feature in :data:`FEATURES` order (default ones);
      :meth:`feature_scales` measures them on sample fields (no network needed).
    """

    network: PeriodicConvCorrection
    grid: PeriodicGrid
    scales: tuple[float, ...] = eqx.field(static=True)

    def __init__(
        self,
        grid: PeriodicGrid,
        width: int = 16,
        depth: int = 2,
        kernel_size: int = 3,
        *,
        key: PRNGKeyArray,
        scales: Sequence[float] | None = None,
        activation: Callable = jax.nn.gelu,
    ):
        _check_grid(grid)
        scales = (1.0,) * len(FEATURES) if scales is None else tuple(float(s) for s in scales)
        if len(scales) != len(FEATURES) or not all(0 < s < float("inf") for s in scales):
            raise InvalidInputError(f"scales must be {len(FEATURES)} positive finite numbers ({', '.join(FEATURES)}), "
                                    f"got {scales!r}")
        self.network = PeriodicConvCorrection(len(FEATURES), ndim=2, width=width, depth=depth, kernel_size=kernel_size,
                                              key=key, activation=activation, out_channels=2)
        self.grid = grid
        self.scales = scales

    def features(self, omega: Float[Array, "1 x y"]) -> Float[Array, "5 x y"]:
        r"""$(\omega, u, v, \partial_x\omega, \partial_y\omega)$ of the vorticity `omega`, unscaled, with
        $(u, v) = (\partial_y\psi, -\partial_x\psi)$ and $\Delta\psi = -\omega$ (as
        :meth:`pdesolve.pdes.NavierStokes2D.velocity`)."""
        return _features(omega, self.grid)

    @staticmethod
    def feature_scales(omegas: Float[Array, "b 1 x y"], grid: PeriodicGrid) -> tuple[float, ...]:
        """Root-mean-square size of each feature over the sample fields `omegas` on `grid` (pass as `scales`)."""
        _check_grid(grid)
        values = jax.vmap(lambda omega: _features(omega, grid))(jnp.asarray(omegas))
        return tuple(float(s) for s in np.sqrt(np.mean(np.asarray(values, np.float64) ** 2, axis=(0, 2, 3))))

    def flux(self, omega: Float[Array, "1 x y"]) -> Float[Array, "2 x y"]:
        r"""The learned flux $\mathbf F_\theta$ (2 components on the grid)."""
        scales = jnp.asarray(self.scales, omega.dtype)[:, None, None]
        return self.network(self.features(omega) / scales)

    def __call__(self, omega: Float[Array, "1 x y"]) -> Float[Array, "1 x y"]:
        d = derivative_operator(self.grid)
        flux_hat = rfft(self.flux(omega), self.grid)
        return irfft(-(d[0] * flux_hat[0] + d[1] * flux_hat[1]), self.grid)[None].astype(omega.dtype)


def _check_grid(grid) -> None:
    if not isinstance(grid, PeriodicGrid) or grid.ndim != 2:
        raise InvalidInputError(f"grid must be a 2D PeriodicGrid, got {grid!r}")


def _features(omega: Float[Array, "1 x y"], grid: PeriodicGrid) -> Float[Array, "5 x y"]:
    if omega.shape != (1, *grid.shape):
        raise InvalidInputError(f"omega must be shaped {(1, *grid.shape)}, got {omega.shape}")
    d = derivative_operator(grid)
    omega_hat = rfft(omega[0], grid)
    spectral = jnp.concatenate([velocity_from_vorticity_hat(omega_hat, grid), d * omega_hat])
    return jnp.concatenate([omega, irfft(spectral, grid).astype(omega.dtype)])
