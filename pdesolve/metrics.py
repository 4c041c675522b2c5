"""Error metrics and diagnostics on plain arrays shaped ``(channels, *grid)``."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._errors import InvalidInputError
from .spatial import PeriodicGrid, irfft, rfft, rfft_weights, velocity_from_vorticity_hat


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
    weight = rfft_weights(grid)
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


def correlation(
    u: Float[Array, "*batch c ..."],
    reference: Float[Array, "*batch c ..."],
    grid: PeriodicGrid,
    *,
    max_wavenumber: float | None = None,
) -> Float[Array, " *batch"]:
    r"""Correlation of two fields, $\rho = \langle u, v\rangle / (\|u\| \|v\|)$ (Kochkov et al. 2021's vorticity correlation).

    The inner product is over channels and space, $\langle u, v\rangle = \sum_{c, x} u_{c,x}
    v_{c,x}$ (not centred: vorticity on a periodic box has zero mean), so $\rho = 1$ for equal
    fields, $-1$ for $v = -u$. With `max_wavenumber` $K$ both fields are first restricted to the
    Fourier modes $|m| \le K$ (integer mode numbers; e.g. $K = n/3$, the band a 2/3-dealiased
    grid of $n$ points resolves), computed with Parseval's identity
    $\langle u, v\rangle \propto \sum_m w_m \operatorname{Re}(\hat u_m \overline{\hat v_m})$.
    Leading axes (time, samples) are kept: fields shaped ``(t, c, nx, ny)`` give ``(t,)``.
    """
    u, reference = jnp.asarray(u), jnp.asarray(reference)
    if u.shape != reference.shape or u.ndim < grid.ndim + 1 or u.shape[u.ndim - grid.ndim:] != grid.shape:
        raise InvalidInputError(f"correlation needs two fields of one shape (..., c, *{grid.shape}), got {u.shape} "
                                f"and {reference.shape}")
    axes = tuple(range(u.ndim - grid.ndim - 1, u.ndim))
    if max_wavenumber is None:
        inner, uu, vv = (jnp.sum(a * b, axis=axes) for a, b in ((u, reference), (u, u), (reference, reference)))
    else:
        weight = jnp.asarray(rfft_weights(grid, max_wavenumber), u.dtype)
        u_hat, v_hat = rfft(u, grid), rfft(reference, grid)
        inner, uu, vv = (jnp.sum(weight * jnp.real(a * jnp.conj(b)), axis=axes)
                         for a, b in ((u_hat, v_hat), (u_hat, u_hat), (v_hat, v_hat)))
    return inner / jnp.sqrt(uu * vv)


def high_correlation_time(
    correlations: Float[ArrayLike, " t"], times: Float[ArrayLike, " t"], threshold: float = 0.95
) -> float:
    r"""The first time a correlation curve $\rho(t)$ drops below `threshold` (Kochkov et al. 2021 use 0.95).

    Linear interpolation between the last saved time with $\rho \ge$ `threshold` and the first with
    $\rho <$ `threshold`; $t_0$ if the curve starts below; ``times[-1]`` if it never drops below
    (a lower bound: the run was too short to tell). Non-finite values count as below.
    """
    rho = np.asarray(correlations, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    if rho.ndim != 1 or rho.shape != t.shape or rho.size == 0:
        raise InvalidInputError(f"high_correlation_time needs 1D correlations and times of one length, got shapes "
                                f"{rho.shape} and {t.shape}")
    below = ~(rho >= threshold)
    if not below.any():
        return float(t[-1])
    first = int(np.argmax(below))
    if first == 0 or not np.isfinite(rho[first]):
        return float(t[first])
    r0, r1 = rho[first - 1], rho[first]
    return float(t[first - 1] + (r0 - threshold) / (r0 - r1) * (t[first] - t[first - 1]))


def vorticity_energy_spectrum(omega: Float[Array, "1 x y"], grid: PeriodicGrid) -> tuple[np.ndarray, np.ndarray]:
    r"""Isotropic kinetic-energy spectrum $E(k)$ of the 2D velocity induced by the vorticity `omega`.

    The velocity is $\mathbf{u} = (\partial_y \psi, -\partial_x\psi)$ with $-\Delta\psi = \omega$, so
    $|\hat{\mathbf u}_m|^2 = |\hat\omega_m|^2 / |k_m|^2$; $E(k)$ sums $\tfrac12|\hat{\mathbf u}_m|^2$
    over the shells $k - \tfrac12 \le |m| < k + \tfrac12$ (see :func:`energy_spectrum`), so
    $\sum_k E(k)$ is the mean kinetic energy. Returns ``(k, E)`` as numpy arrays.
    """
    omega = jnp.asarray(omega)
    if grid.ndim != 2 or omega.shape != (1,) + grid.shape:
        raise InvalidInputError(f"omega must be one vorticity channel shaped {(1,) + grid.shape} on a 2D grid, "
                                f"got {omega.shape}")
    velocity = irfft(velocity_from_vorticity_hat(rfft(omega, grid)[0], grid), grid)
    return energy_spectrum(velocity, grid)

__all__ = [
    "accumulated_error",
    "correlation",
    "energy_spectrum",
    "high_correlation_time",
    "max_abs_error",
    "mean_relative_l2",
    "nrmse",
    "observed_order",
    "relative_l2",
    "vorticity_energy_spectrum",
]
