r"""Basis networks for hard-constrained models, and their jets (values and derivatives at points).

A hard-constrained model predicts $u = \sum_{j=1}^N \omega_j b_j$ from $N$ basis functions $b_j$
emitted by a network; a constraint layer solves for $\omega$ from the bases' *jet* (their values
and derivatives) at the constraint points. Derivatives are forward-mode (``jax.jvp``), exact.

- :class:`FourierFeatureBasis`: $(x, \tau) \mapsto b(x, \tau) \in \mathbb{R}^N$ on
  $(0,1)\times(0,1)$, with jet :func:`basis_jet` ($b, b_\tau, b_x, b_{xx}$).
- :class:`PeriodicStreamfunctionBasis`: streamfunctions $(x, y, \tau) \mapsto \psi(x, y, \tau)
  \in \mathbb{R}^N$, periodic on $(0,1)^2$, with jet :func:`vorticity_jet` (the vorticity
  $w = -\Delta\psi$, $w_\tau$, $w_x$, $w_y$, $\Delta w$, and $\psi_x$, $\psi_y$).
- :class:`InitialFieldFeatures`, :class:`InitialLift`: a periodic initial vorticity as smooth
  network inputs, or built into the prediction, $\psi = \psi_0 + \tau\,b\cdot\omega$.

Reference:
    N. Chalapathi, Y. Du, A. S. Krishnapriyan, "Scaling physics-informed hard constraints with
    mixture-of-experts", ICLR 2024.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..problems import VORTICITY_FIELDS


class FourierFeatureBasis(eqx.Module):
    r"""Fourier-feature tanh MLP $(x, \tau) \mapsto N$ basis function values on $(0,1)^2$.

    The inputs are embedded as $(2x - 1, 2\tau - 1)$ and $a_m\sin(\pi m s)$, $a_m\cos(\pi m s)$
    for $s = x, \tau$ and $m = 1..8$, with $a_m = m^{-p}$ ($p$ = `decay`), so larger $p$ gives
    smoother bases. The embedding keeps the $N$ bases far from collinear (a plain tanh MLP at
    initialisation gives a $64\times64$ collocation matrix of condition number ~1e16). The output
    layer has a tanh too, so the bases are $N$ independent features (a linear output layer
    would make them combinations of `width` hidden units, rank $\le$ `width` + 1).

    **Arguments:**

    - `num_basis`: $N$.
    - `width`, `depth`: of the MLP.
    - `key`: initialisation key.
    - `decay`: $p$ (default 2).
    """

    mlp: eqx.nn.MLP
    frequencies: Array
    decay: float = eqx.field(static=True)

    def __init__(self, num_basis: int, width: int, depth: int, *, key: PRNGKeyArray, decay: float = 2.0):
        self.frequencies = jnp.pi * jnp.arange(1, 9, dtype=jnp.float64)
        self.decay = float(decay)
        self.mlp = eqx.nn.MLP(2 + 4 * 8, num_basis, width, depth, activation=jnp.tanh,
                              final_activation=jnp.tanh, key=key)

    def __call__(self, x: Float[Array, ""], t: Float[Array, ""]) -> Float[Array, " n"]:
        freq = jax.lax.stop_gradient(self.frequencies)  # fixed, not trained
        amp = (jnp.pi / freq) ** self.decay
        features = jnp.concatenate([
            jnp.stack([2 * x - 1, 2 * t - 1]), amp * jnp.sin(freq * x), amp * jnp.cos(freq * x),
            amp * jnp.sin(freq * t), amp * jnp.cos(freq * t),
        ])
        return self.mlp(features)


def basis_jet(net: Callable, points: Float[Array, "p 2"]) -> dict[str, Float[Array, "p n"]]:
    r"""The jet of a basis network $b(x, \tau)$ at points $(x, \tau)$: ``b``, ``b_t``
    ($\partial_\tau b$), ``b_x``, ``b_xx``, each ``(P, N)``."""

    def single(p):
        x, t = p[0], p[1]
        b, b_t = jax.jvp(lambda s: net(x, s), (t,), (jnp.ones_like(t),))
        first = lambda y: jax.jvp(lambda s: net(s, t), (y,), (jnp.ones_like(y),))[1]  # noqa: E731
        b_x, b_xx = jax.jvp(first, (x,), (jnp.ones_like(x),))
        return {"b": b, "b_t": b_t, "b_x": b_x, "b_xx": b_xx}

    return jax.vmap(single)(points)


def fourier_modes(w0: Float[Array, "n n"], max_mode: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Wavenumbers $k_x$, $k_y$ and coefficients $\hat w_k$ of a field on the periodic $n\times n$ grid
    of $(0,1)^2$, $w(x) = \sum_k \hat w_k e^{2\pi i k\cdot x}$, without the mean mode; only
    $|k_x|, |k_y| \le$ `max_mode` if given."""
    n = w0.shape[0]
    k = np.fft.fftfreq(n, 1.0 / n)
    kx, ky = np.meshgrid(k, k, indexing="ij")
    keep = (kx != 0) | (ky != 0)
    if max_mode is not None:
        keep &= (np.abs(kx) <= max_mode) & (np.abs(ky) <= max_mode)
    return kx[keep], ky[keep], np.fft.fft2(np.asarray(w0))[keep] / n**2


class InitialFieldFeatures(eqx.Module):
    r"""The initial streamfunction, velocity and vorticity at any $(x, y)$, each scaled to unit rms.

    From the initial vorticity on the periodic grid: $\hat\psi_k = \hat w_k / (4\pi^2|k|^2)$
    ($w = -\Delta\psi$), truncated to $|k_x|, |k_y| \le$ `max_mode` and summed as a trigonometric
    polynomial, so the features are smooth and any derivative of them is exact. Fixed, not
    trained (an input of :class:`PeriodicStreamfunctionBasis`).
    """

    wavenumbers: Array  # (modes, 2)
    coefficients: Array  # (4, modes) complex: psi, u = psi_y, v = -psi_x, w

    def __init__(self, w0: Float[Array, "n n"], max_mode: int = 8):
        kx, ky, w_hat = fourier_modes(w0, max_mode)
        psi_hat = w_hat / (4 * np.pi**2 * (kx**2 + ky**2))
        coeffs = np.stack([psi_hat, 2j * np.pi * ky * psi_hat, -2j * np.pi * kx * psi_hat, w_hat])
        coeffs = coeffs / np.sqrt(np.sum(np.abs(coeffs) ** 2, axis=1, keepdims=True))  # unit rms (Parseval)
        self.wavenumbers = jnp.asarray(np.stack([kx, ky], 1))
        self.coefficients = jnp.asarray(coeffs)

    def __call__(self, x: Float[Array, ""], y: Float[Array, ""]) -> Float[Array, " 4"]:
        k, c = jax.lax.stop_gradient((self.wavenumbers, self.coefficients))
        phase = 2 * jnp.pi * (k[:, 0] * x + k[:, 1] * y)
        return c.real @ jnp.cos(phase) - c.imag @ jnp.sin(phase)


class InitialLift(eqx.Module):
    r"""An initial field built into the prediction: $\psi(x, y, \tau) = \psi_0(x, y) + \tau\, b\cdot\omega$.

    $\psi_0$ is the trigonometric interpolant of the initial streamfunction on the periodic grid,
    $\hat\psi_k = \hat w_k / (4\pi^2|k|^2)$ with every grid mode kept, so $-\Delta\psi_0$ equals
    the initial vorticity at every grid node and the initial condition holds at every point of the
    domain, not only at constraint points. Its fields are Fourier multipliers, evaluated in closed
    form. Fixed, not trained. (Chalapathi et al. build the initial condition into their
    Navier-Stokes output in the same way, $w = w_0 + c\,(t/T)\,b\cdot\omega$.) With `max_mode`
    only the modes $|k_x|, |k_y| \le$ `max_mode` are kept: a smoothed initial field.
    """

    wavenumbers: Array  # (modes, 2)
    coefficients: Array  # (modes, 7) complex: the fields of VORTICITY_FIELDS

    def __init__(self, w0: Float[Array, "n n"], max_mode: int | None = None):
        kx, ky, w_hat = fourier_modes(w0, max_mode)
        ikx, iky = 2j * np.pi * kx, 2j * np.pi * ky
        psi_hat = w_hat / (4 * np.pi**2 * (kx**2 + ky**2))
        fields = {"w": w_hat, "w_t": 0 * w_hat, "w_x": ikx * w_hat, "w_y": iky * w_hat,
                  "lap_w": (ikx**2 + iky**2) * w_hat, "psi_x": ikx * psi_hat, "psi_y": iky * psi_hat}
        self.wavenumbers = jnp.asarray(np.stack([kx, ky], 1))
        self.coefficients = jnp.asarray(np.stack([fields[name] for name in VORTICITY_FIELDS], 1))

    def __call__(self, points: Float[Array, "p 3"]) -> dict[str, Float[Array, " p"]]:
        r"""The fields of $\psi_0$ (:data:`~pdesolve.problems.VORTICITY_FIELDS`) at points $(x, y, \tau)$."""
        k, c = jax.lax.stop_gradient((self.wavenumbers, self.coefficients))
        phase = 2 * jnp.pi * (points[:, :1] * k[:, 0] + points[:, 1:2] * k[:, 1])  # (P, modes)
        values = jnp.cos(phase) @ c.real - jnp.sin(phase) @ c.imag  # Re sum_k c_k exp(i phase)
        return {name: values[:, j] for j, name in enumerate(VORTICITY_FIELDS)}


class PeriodicStreamfunctionBasis(eqx.Module):
    r"""$(x, y, \tau) \mapsto N$ streamfunction bases, periodic in $x$ and $y$ on $(0,1)^2$.

    Inputs: $2\tau - 1$, $a_m\sin/\cos(2\pi m x)$, $a_m\sin/\cos(2\pi m y)$ and
    $a_m\sin/\cos(\pi m\tau)$ for $m = 1..4$, $a_m = m^{-p}$ ($p$ = `decay`), then a tanh MLP
    (tanh output). Every basis is periodic by construction, so no boundary conditions are needed.

    **Arguments:**

    - `num_basis`, `width`, `depth`, `key`, `decay`: as :class:`FourierFeatureBasis`.
    - `initial`: :class:`InitialFieldFeatures`, fed to the MLP as four more inputs (optional).
    - `vanish_at_start`: multiply every basis by $\tau$, so it is 0 at $\tau = 0$ and the initial
      field comes from an :class:`InitialLift` alone.
    """

    mlp: eqx.nn.MLP
    decay: float = eqx.field(static=True)
    initial: InitialFieldFeatures | None = None
    vanish_at_start: bool = eqx.field(static=True, default=False)

    def __init__(self, num_basis: int, width: int, depth: int, *, key: PRNGKeyArray, decay: float = 2.0,
                 initial: InitialFieldFeatures | None = None, vanish_at_start: bool = False):
        self.decay = float(decay)
        self.initial = initial
        self.vanish_at_start = bool(vanish_at_start)
        inputs = 1 + 6 * 4 + (0 if initial is None else 4)
        self.mlp = eqx.nn.MLP(inputs, num_basis, width, depth, activation=jnp.tanh,
                              final_activation=jnp.tanh, key=key)

    def __call__(self, x: Float[Array, ""], y: Float[Array, ""], t: Float[Array, ""]) -> Float[Array, " n"]:
        m = jnp.arange(1, 5, dtype=jnp.float64)
        amp = m ** -self.decay
        ks, kt = 2 * jnp.pi * m, jnp.pi * m
        features = [
            jnp.stack([2 * t - 1]), amp * jnp.sin(ks * x), amp * jnp.cos(ks * x), amp * jnp.sin(ks * y),
            amp * jnp.cos(ks * y), amp * jnp.sin(kt * t), amp * jnp.cos(kt * t),
        ]
        if self.initial is not None:
            features.append(self.initial(x, y))
        bases = self.mlp(jnp.concatenate(features))
        return t * bases if self.vanish_at_start else bases


def streamfunction_fields(psi: Callable, point: Float[Array, " 3"]) -> dict[str, Array]:
    r"""$w$, $w_\tau$, $w_x$, $w_y$, $\Delta w$, $\psi_x$, $\psi_y$ of a streamfunction
    $\psi:\mathbb{R}^3\to\mathbb{R}^N$ (or $\mathbb{R}$) at one point $(x, y, \tau)$, $w = -\Delta\psi$."""

    def d(f, i):  # directional derivative of f along axis i
        e = jnp.zeros(3).at[i].set(1.0)
        return lambda q: jax.jvp(f, (q,), (e,))[1]

    w = lambda q: -(d(d(psi, 0), 0)(q) + d(d(psi, 1), 1)(q))  # noqa: E731
    lap_w = d(d(w, 0), 0)(point) + d(d(w, 1), 1)(point)
    return {"w": w(point), "w_t": d(w, 2)(point), "w_x": d(w, 0)(point), "w_y": d(w, 1)(point), "lap_w": lap_w,
            "psi_x": d(psi, 0)(point), "psi_y": d(psi, 1)(point)}


def vorticity_jet(net: Callable, points: Float[Array, "p 3"]) -> dict[str, Float[Array, "p n"]]:
    r"""The jet of a streamfunction basis network $\psi(x, y, \tau)$ at points: for each field of
    :func:`streamfunction_fields`, a ``(P, N)`` array."""
    return jax.vmap(lambda p: streamfunction_fields(lambda q: net(q[0], q[1], q[2]), p))(points)
