"""Error metrics and diagnostics on plain arrays shaped ``(channels, *grid)``."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._errors import InvalidInputError
from .spatial import PeriodicGrid, rfft


def relative_l2(u: Float[Array, "..."], reference: Float[Array, "..."]) -> Float[Array, ""]:
    r"""Relative $L^2$ error $\|u - u_{ref}\|_2 / \|u_{ref}\|_2$ over all entries."""
    return jnp.linalg.norm((u - reference).ravel()) / jnp.linalg.norm(reference.ravel())


def max_abs_error(u: Float[Array, "..."], reference: Float[Array, "..."]) -> Float[Array, ""]:
    r"""Maximum pointwise error $\max |u - u_{ref}|$."""
    return jnp.max(jnp.abs(u - reference))


def accumulated_error(u: Float[Array, "... t x"], reference: Float[Array, "... t x"]) -> Float[Array, "..."]:
    r"""Accumulated rollout error $\sum_t \frac{1}{n_x}\sum_x (u_{t,x} - u^{ref}_{t,x})^2$ (Brandstetter et al. 2022).

    The last axis is space, the one before it time; leading axes (e.g. samples) are kept, so
    average the result over samples to get the paper's Table 1 convention (which sums over
    the predicted frames only: pass those frames).
    """
    if jnp.shape(u) != jnp.shape(reference) or jnp.ndim(u) < 2:
        from ._errors import InvalidInputError

        raise InvalidInputError(
            f"accumulated_error needs two arrays of one shape [..., t, x], got {jnp.shape(u)} and {jnp.shape(reference)}"
        )
    return jnp.sum(jnp.mean((jnp.asarray(u) - jnp.asarray(reference)) ** 2, axis=-1), axis=-1)


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


def mean_relative_l2(
    u: Float[Array, "batch ..."], reference: Float[Array, "batch ..."]
) -> Float[Array, ""]:
    r"""Batch mean of per-sample relative $L^2$ errors (the FNO paper's ``LpLoss`` convention).

    $$\frac{1}{B}\sum_{b=1}^{B} \frac{\|u_b - u_{ref,b}\|_2}{\|u_{ref,b}\|_2},$$
    each norm taken over every remaining axis of sample $b$ (time, channels and space
    together for a trajectory). Li et al. (ICLR 2021) report this figure (e.g. 0.0128 for
    FNO-2D on Navier-Stokes, $\nu = 10^{-3}$) on the predicted frames $t = 11..50$.
    """
    axes = tuple(range(1, u.ndim))
    num = jnp.sqrt(jnp.sum((u - reference) ** 2, axis=axes))
    den = jnp.sqrt(jnp.sum(reference**2, axis=axes))
    return jnp.mean(num / den)


def nrmse(
    u: Float[Array, "batch t c ..."],
    reference: Float[Array, "batch t c ..."],
    *,
    convention: str = "pdebench",
) -> Float[Array, ""]:
    r"""Normalised root-mean-square error of a batch of trajectories shaped ``[batch, t, c, *space]``.

    - ``convention="pdebench"`` (Takamoto et al., NeurIPS 2022, PDEBench's ``nRMSE``): for
      every sample $b$, time $t$ and channel $c$ the spatial ratio
      $\mathrm{RMS}_x(u - u_{ref}) / \mathrm{RMS}_x(u_{ref})$, averaged over samples and times,
      then over channels.
    - ``convention="exponax"`` (Koehler et al. 2024, ``exponax.metrics.nRMSE``): for every sample
      and time the ratio $\mathrm{RMS}(u - u_{ref}) / \mathrm{RMS}(u_{ref})$ over channels and
      space together (one state), averaged over samples and times.

    The two agree for one channel. Inputs without a time axis can pass ``u[:, None]``.
    """
    if u.shape != reference.shape or u.ndim < 3:
        raise InvalidInputError(
            f"nrmse needs two arrays of the same shape [batch, t, c, *space], got {u.shape} and {reference.shape}"
        )
    if convention == "pdebench":
        axes = tuple(range(3, u.ndim))
    elif convention == "exponax":
        axes = tuple(range(2, u.ndim))
    else:
        raise InvalidInputError(f"nrmse convention must be 'pdebench' or 'exponax', got {convention!r}")
    error = jnp.sqrt(jnp.mean((u - reference) ** 2, axis=axes))
    scale = jnp.sqrt(jnp.mean(reference**2, axis=axes))
    return jnp.mean(error / scale)

__all__ = [
    "accumulated_error",
    "energy_spectrum",
    "max_abs_error",
    "mean_relative_l2",
    "nrmse",
    "observed_order",
    "relative_l2",
]
