"""Reusable random initial conditions on periodic grids."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .spatial import PeriodicGrid, irfft, laplacian_symbol, rfft


def gaussian_random_field(
    key: PRNGKeyArray,
    grid: PeriodicGrid,
    alpha: float = 2.5,
    tau: float = 7.0,
    sigma: float | None = None,
    num_channels: int = 1,
) -> Float[Array, "c ..."]:
    r"""Zero-mean, stationary and isotropic Gaussian random field with covariance $\sigma^2(-\Delta + \tau^2)^{-\alpha}$.

    White noise $w$ on the grid is filtered in Fourier space,
    $u = \mathcal{F}^{-1}[\sqrt{N}\,\sigma(|k|^2 + \tau^2)^{-\alpha/2}\,\mathcal{F}w]$
    ($N$ grid points), so every Fourier mode $k \ne 0$ has variance
    $\sigma^2(|k|^2 + \tau^2)^{-\alpha}$ and the coefficients of $k$ and $-k$ are conjugate, as a
    real field needs; the mean mode is zero. The default $\sigma = \tau^{(2\alpha - d)/2}$
    gives $7^{3/2}$ for the FNO Navier-Stokes setting ($d = 2$, $\alpha = 2.5$, $\tau = 7$, on
    $(0, 1)^2$, Li et al. 2021), whose fields this matches in distribution. Wavenumbers are
    the box's angular ones, so on $(0, 1)^2$, $|k|^2 = 4\pi^2|m|^2$.
    """
    if sigma is None:
        sigma = tau ** (0.5 * (2 * alpha - grid.ndim))
    eigen = -laplacian_symbol(grid)
    amplitude = sigma * (eigen + tau**2) ** (-alpha / 2)
    amplitude = jnp.where(eigen == 0, 0.0, amplitude)
    n_total = 1
    for n in grid.shape:
        n_total *= n
    noise = jax.random.normal(key, (num_channels,) + tuple(grid.shape), grid.dtype)
    field = irfft(rfft(noise, grid) * amplitude * jnp.sqrt(float(n_total)), grid)
    return field.astype(grid.dtype)


def random_fourier_series(
    key: PRNGKeyArray,
    grid: PeriodicGrid,
    max_mode: int = 4,
    num_channels: int = 1,
    decay: float = 1.0,
) -> Float[Array, "c ..."]:
    r"""Smooth random field: a sum of Fourier modes with $|m_i| \le$ `max_mode`.

    Coefficients are standard normal, divided by $(1 + |m|^2)^{\text{decay}/2}$; the field is
    normalised to unit maximum magnitude per channel.
    """
    shape = (num_channels,) + grid.spectral_shape
    k1, k2 = jax.random.split(key)
    coeff = jax.random.normal(k1, shape, grid.dtype) + 1j * jax.random.normal(k2, shape, grid.dtype)
    ints = grid.integer_wavenumbers()
    keep = 1.0
    norm = 0.0
    for m in ints:
        keep = keep * (abs(m) <= max_mode)
        norm = norm + m.astype(float) ** 2
    weights = jnp.asarray(keep / (1.0 + norm) ** (decay / 2), grid.dtype)
    field = irfft(coeff * weights, grid)
    scale = jnp.max(jnp.abs(field), axis=tuple(range(1, field.ndim)), keepdims=True)
    return (field / scale).astype(grid.dtype)

__all__ = [
    "gaussian_random_field",
    "random_fourier_series",
]
