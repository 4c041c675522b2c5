"""Error metrics and diagnostics on plain arrays shaped ``(channels, *grid)``."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .spatial import PeriodicGrid, rfft


def relative_l2(u: Float[Array, "..."], reference: Float[Array, "..."]) -> Float[Array, ""]:
    r"""Relative $L^2$ error $\|u - u_{ref}\|_2 / \|u_{ref}\|_2$ over all entries."""
    return jnp.linalg.norm((u - reference).ravel()) / jnp.linalg.norm(reference.ravel())


def max_abs_error(u: Float[Array, "..."], reference: Float[Array, "..."]) -> Float[Array, ""]:
    r"""Maximum pointwise error $\max |u - u_{ref}|$."""
    return jnp.max(jnp.abs(u - reference))


def observed_order(errors, resolutions) -> float:
    r"""Convergence order from the two finest runs: $p = \log(e_1/e_2)/\log(h_1/h_2)$.

    `resolutions` are step sizes (or grid spacings) matching `errors`, coarse to fine.
    """
    e1, e2 = float(errors[-2]), float(errors[-1])
    h1, h2 = float(resolutions[-2]), float(resolutions[-1])
    return float(np.log(e1 / e2) / np.log(h1 / h2))


def energy_spectrum(u: Float[Array, "c ..."], grid: PeriodicGrid) -> tuple[np.ndarray, np.ndarray]:
    r"""Shell-summed spectrum $E(k) = \sum_{k - 1/2 \le |m| < k + 1/2} \tfrac12 |\hat u_m|^2$.

    Sums over channels; $m$ are integer mode numbers and $\hat u$ is normalised by the number
    of grid points, so $\sum_k E(k)$ is the mean of $\tfrac12 |u|^2$ (Parseval). For a vorticity
    field this is the enstrophy spectrum. Returns ``(k, E)`` as numpy arrays.
    """
    n_total = int(np.prod(grid.shape))
    u_hat = np.asarray(rfft(u, grid)) / n_total
    power = 0.5 * np.abs(u_hat) ** 2
    # Modes of the half spectrum with 0 < m_last < N/2 stand for two conjugate modes.
    weight = np.full(grid.spectral_shape, 2.0)
    weight[..., 0] = 1.0
    if grid.shape[-1] % 2 == 0:
        weight[..., -1] = 1.0
    ints = grid.integer_wavenumbers()
    radius = np.sqrt(sum(np.broadcast_to(m, grid.spectral_shape).astype(float) ** 2 for m in ints))
    shell = np.rint(radius).astype(int)
    spectrum = np.bincount(shell.ravel(), weights=(weight * power.sum(axis=0)).ravel())
    return np.arange(spectrum.size), spectrum
