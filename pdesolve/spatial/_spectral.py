r"""Pseudo-spectral operators on periodic grids (real FFT).

Every function works on fields shaped ``(channels, *grid.shape)`` and on their real-FFT
coefficients shaped ``(channels, *grid.spectral_shape)``. Transforms act on the trailing
``grid.ndim`` axes only, so leading batch axes are allowed.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from .._errors import InvalidInputError
from ._grid import PeriodicGrid


def _axes(grid: PeriodicGrid) -> tuple[int, ...]:
    return tuple(range(-grid.ndim, 0))


def rfft(u: Float[Array, "*c ..."], grid: PeriodicGrid) -> Complex[Array, "*c ..."]:
    """Real FFT over the spatial axes of `u`."""
    return jnp.fft.rfftn(u, axes=_axes(grid))


def irfft(u_hat: Complex[Array, "*c ..."], grid: PeriodicGrid) -> Float[Array, "*c ..."]:
    """Inverse of :func:`rfft`, returning a real field on `grid`."""
    return jnp.fft.irfftn(u_hat, s=grid.shape, axes=_axes(grid))


def derivative_operator(grid: PeriodicGrid) -> Complex[Array, "d ..."]:
    r"""Fourier symbols $i k_j$ of $\partial/\partial x_j$, stacked as ``(d, *spectral_shape)``.

    The Nyquist mode of an even-sized axis is set to zero, so odd derivatives of real
    fields stay real.
    """
    ks = grid.wavenumbers()
    ints = grid.integer_wavenumbers()
    out = []
    for axis, (k, m) in enumerate(zip(ks, ints)):
        n = grid.num_points[axis]
        k = jnp.where(jnp.asarray((n % 2 == 0) & (np.abs(m) == n // 2)), 0.0, k)
        out.append(jnp.broadcast_to(1j * k.astype(grid.complex_dtype), grid.spectral_shape))
    return jnp.stack(out)


def laplacian_symbol(grid: PeriodicGrid) -> Float[Array, "..."]:
    r"""Fourier symbol $-|k|^2$ of the Laplacian, shaped ``grid.spectral_shape``."""
    total = sum(k**2 for k in grid.wavenumbers())
    return -jnp.broadcast_to(total, grid.spectral_shape)


def dealiasing_mask(grid: PeriodicGrid, fraction: float = 2 / 3) -> Float[Array, "..."]:
    r"""Orszag-style dealiasing mask: keep modes with $|m_j| < \text{fraction}\cdot N_j/2$ on every axis.

    With `fraction` = 2/3 a quadratic nonlinearity is alias-free; 1/2 covers cubic terms.
    """
    keep = np.ones(grid.spectral_shape, dtype=bool)
    for axis, m in enumerate(grid.integer_wavenumbers()):
        keep = keep & (np.abs(m) < fraction * grid.num_points[axis] / 2)
    return jnp.asarray(keep, dtype=grid.dtype)


def spectral_derivative(
    u: Float[Array, "c ..."], grid: PeriodicGrid, axis: int = 0, order: int = 1
) -> Float[Array, "c ..."]:
    r"""$\partial^{n} u / \partial x_{\text{axis}}^{n}$ by real FFT (spectrally accurate for smooth $u$)."""
    u_hat = rfft(u, grid)
    if order % 2 == 1:
        symbol = derivative_operator(grid)[axis] ** order
    else:
        symbol = (-(grid.wavenumbers()[axis] ** 2)) ** (order // 2)
    return irfft(symbol * u_hat, grid)


def spectral_gradient(u: Float[Array, "c ..."], grid: PeriodicGrid) -> Float[Array, "c d ..."]:
    r"""Gradient $\nabla u$, shaped ``(channels, d, *grid)``."""
    u_hat = rfft(u, grid)
    return irfft(derivative_operator(grid)[None] * u_hat[:, None], grid)


def spectral_laplacian(u: Float[Array, "c ..."], grid: PeriodicGrid) -> Float[Array, "c ..."]:
    r"""Laplacian $\Delta u$ by real FFT."""
    return irfft(laplacian_symbol(grid) * rfft(u, grid), grid)


def inverse_laplacian_symbol(grid: PeriodicGrid) -> Float[Array, "..."]:
    r"""Symbol of $\Delta^{-1}$ on zero-mean fields: $-1/|k|^2$, with the mean mode set to 0."""
    lap = laplacian_symbol(grid)
    safe = jnp.where(lap == 0, 1.0, lap)
    return jnp.where(lap == 0, 0.0, 1.0 / safe)


def velocity_from_vorticity_hat(
    omega_hat: Complex[Array, "*b ..."], grid: PeriodicGrid
) -> Complex[Array, "*b 2 ..."]:
    r"""Biot-Savart law in Fourier space: the 2D velocity induced by a vorticity field.

    With the streamfunction $-\Delta\psi = \omega$ (zero mean) the velocity is
    $\mathbf u = (\partial_y\psi, -\partial_x\psi)$, so $\hat{\mathbf u}_m =
    (i k_y, -i k_x)\,\hat\omega_m / |k_m|^2$; the mean mode gets no velocity. `omega_hat`
    holds real-FFT coefficients without a channel axis, shaped ``(*batch, *grid.spectral_shape)``;
    the result is shaped ``(*batch, 2, *grid.spectral_shape)``.
    """
    if grid.ndim != 2:
        raise InvalidInputError(f"the Biot-Savart law here is for 2D grids, got a {grid.ndim}D grid")
    d = derivative_operator(grid)
    psi_hat = -inverse_laplacian_symbol(grid) * omega_hat
    return jnp.stack([d[1] * psi_hat, -d[0] * psi_hat], axis=-3)


def poisson_solve(f: Float[Array, "c ..."], grid: PeriodicGrid) -> Float[Array, "c ..."]:
    r"""Solve $\Delta \phi = f$ on the periodic box for the zero-mean $\phi$.

    The mean of `f` (which has no periodic solution) is discarded.
    """
    return irfft(inverse_laplacian_symbol(grid) * rfft(f, grid), grid)


def rfft_weights(grid: PeriodicGrid, max_wavenumber: float | None = None) -> np.ndarray:
    r"""Parseval weights $w_m$ of the real-FFT half spectrum: $\sum_x u_x v_x = \frac{1}{N}\sum_m w_m \operatorname{Re}(\hat u_m \overline{\hat v_m})$.

    $w_m = 2$ for the modes that stand for a conjugate pair ($0 < m_{\text{last}} < n_{\text{last}}/2$),
    1 for the others ($N$ grid points). With `max_wavenumber` $K$, $w_m = 0$ outside the band
    $|m| \le K$ (integer mode numbers), so the sum is the inner product of the band-limited
    fields. Returns a numpy array shaped ``grid.spectral_shape``.
    """
    weight = np.full(grid.spectral_shape, 2.0)
    weight[..., 0] = 1.0
    if grid.shape[-1] % 2 == 0:
        weight[..., -1] = 1.0
    if max_wavenumber is not None:
        ints = grid.integer_wavenumbers()
        radius = np.sqrt(sum(np.broadcast_to(m, grid.spectral_shape).astype(float) ** 2 for m in ints))
        weight = np.where(radius <= max_wavenumber, weight, 0.0)
    return weight
