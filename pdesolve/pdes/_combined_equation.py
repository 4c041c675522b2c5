r"""The "combined equation" of Brandstetter, Worrall & Welling (ICLR 2022), with its forcing.

$$
u_t = -\alpha\,(u^2/2)_x + \beta\,u_{xx} - \gamma\,u_{xxx} + \delta(t, x), \qquad
\delta(t, x) = \sum_{j=1}^{5} A_j \sin(\omega_j t + 2\pi \ell_j x / L + \phi_j),
$$

on the periodic interval $[0, L)$, $L = 16$, with $u_0 = \delta(0, x)$. It interpolates
between forced inviscid Burgers (E1: $\alpha=1$, $\beta=\gamma=0$), forced viscous Burgers
(E2: $\beta \sim U[0, 0.2]$) and forced KdV-Burgers (E3: $\alpha \sim U[0,6]$,
$\beta \sim U[0.1,0.4]$, $\gamma \sim U[0,1]$).

The solver (:class:`pdesolve.integrators.ForcedETDRK4`) treats the linear part
$\beta\partial_x^2 - \gamma\partial_x^3$ exactly in Fourier space and the flux plus the
time-dependent forcing with the Cox-Matthews ETDRK4 stages, each evaluated at its own stage
time ($t_n$, $t_n + h/2$, $t_n + h/2$, $t_n + h$). The flux derivative is either a
fifth-order finite-difference WENO scheme (Jiang & Shu 1996) with global Lax-Friedrichs flux
splitting (``flux="weno5"``, the default: E1 forms shocks) or pseudo-spectral with 2/3
dealiasing (``flux="spectral"``, for smooth solutions).
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Complex, Float, Int, PRNGKeyArray

from .._errors import InvalidInputError
from ..spatial import PeriodicGrid, derivative_operator, irfft, laplacian_symbol, rfft
from ._base import AbstractNonlinearSpectralPDE, as_parameter

COMBINED_EXTENT = 16.0
NUM_FORCING_TERMS = 5
FLUXES = ("weno5", "spectral")
#: The published set-ups of Brandstetter et al. (forced Burgers, viscous Burgers, KdV-Burgers).
COMBINED_EXPERIMENTS = ("E1", "E2", "E3")


class CombinedForcing(eqx.Module):
    r"""Random travelling-wave forcing $\delta(t,x) = \sum_j A_j \sin(\omega_j t + 2\pi\ell_j x/L + \phi_j)$.

    **Arguments:** `amplitudes` $A_j$, `frequencies` $\omega_j$, `phases` $\phi_j$,
    `wavenumbers` $\ell_j$ (integers, so $\delta$ is $L$-periodic), all shaped ``(J,)``, and the
    period `extent` $L$.
    """

    amplitudes: Float[Array, " J"]
    frequencies: Float[Array, " J"]
    phases: Float[Array, " J"]
    wavenumbers: Int[Array, " J"]
    extent: float = eqx.field(static=True)

    def __init__(self, amplitudes, frequencies, phases, wavenumbers, extent: float = COMBINED_EXTENT):
        arrays = [jnp.asarray(a) for a in (amplitudes, frequencies, phases)]
        shapes = {a.shape for a in arrays} | {jnp.shape(wavenumbers)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1:
            raise InvalidInputError(
                f"forcing amplitudes, frequencies, phases and wavenumbers must be 1D arrays of one length, got shapes {sorted(shapes)}"
            )
        self.amplitudes, self.frequencies, self.phases = arrays
        self.wavenumbers = jnp.asarray(wavenumbers, dtype=jnp.int32)
        self.extent = float(extent)

    def __call__(self, t: Float[ArrayLike, ""], x: Float[Array, "..."]) -> Float[Array, "..."]:
        """$\\delta(t, x)$ at the points `x` (any shape)."""
        k = 2 * jnp.pi * self.wavenumbers.astype(x.dtype) / self.extent
        arg = self.frequencies * t + k * x[..., None] + self.phases
        return jnp.sum(self.amplitudes * jnp.sin(arg), axis=-1).astype(x.dtype)


def sample_combined_parameters(key: PRNGKeyArray, experiment: str, num_terms: int = NUM_FORCING_TERMS) -> dict:
    r"""Draw one sample's PDE coefficients and forcing for experiment ``"E1"``, ``"E2"`` or ``"E3"``.

    Forcing: $A_j \sim U[-0.5, 0.5]$, $\omega_j \sim U[-0.4, 0.4]$, $\phi_j \sim U[0, 2\pi)$,
    $\ell_j \in \{1, 2\}$ uniformly. Coefficients: E1 $\alpha=1,\beta=\gamma=0$; E2 $\alpha=1$,
    $\beta\sim U[0,0.2]$, $\gamma=0$; E3 $\alpha\sim U[0,6]$, $\beta\sim U[0.1,0.4]$,
    $\gamma\sim U[0,1]$ (Brandstetter et al. 2022, Sec. 4.1). Returns a dict of float64 numpy
    scalars/arrays: ``alpha, beta, gamma, amplitudes, frequencies, phases, wavenumbers``.
    """
    if experiment not in COMBINED_EXPERIMENTS:
        raise InvalidInputError(f"experiment must be one of {', '.join(COMBINED_EXPERIMENTS)}, got {experiment!r}")
    keys = jax.random.split(key, 7)
    u = lambda k, lo, hi, shape=(): np.asarray(jax.random.uniform(k, shape, jnp.float64, lo, hi))  # noqa: E731
    params = {
        "amplitudes": u(keys[0], -0.5, 0.5, (num_terms,)),
        "frequencies": u(keys[1], -0.4, 0.4, (num_terms,)),
        "phases": u(keys[2], 0.0, 2 * math.pi, (num_terms,)),
        "wavenumbers": np.asarray(jax.random.randint(keys[3], (num_terms,), 1, 3)),
    }
    if experiment == "E1":
        alpha, beta, gamma = 1.0, 0.0, 0.0
    elif experiment == "E2":
        alpha, beta, gamma = 1.0, float(u(keys[4], 0.0, 0.2)), 0.0
    else:
        alpha, beta, gamma = float(u(keys[4], 0.0, 6.0)), float(u(keys[5], 0.1, 0.4)), float(u(keys[6], 0.0, 1.0))
    params.update(alpha=np.float64(alpha), beta=np.float64(beta), gamma=np.float64(gamma))
    return params


def weno5_flux_derivative(
    u: Float[Array, "... n"], alpha: Float[ArrayLike, ""], dx: float, eps: float = 1e-6
) -> Float[Array, "... n"]:
    r"""$\partial_x f(u)$, $f = \alpha u^2/2$, by periodic finite-difference WENO5 (Jiang & Shu 1996).

    Global Lax-Friedrichs splitting $f^\pm = (f \pm a u)/2$, $a = \max|\alpha u|$; $f^+$ is
    reconstructed at $x_{i+1/2}$ from the left-biased stencil $i-2..i+2$ and $f^-$ from the
    mirrored one $i-1..i+3$, with the smoothness indicators and linear weights
    $(0.1, 0.6, 0.3)$ of Jiang & Shu; returns $(F_{i+1/2} - F_{i-1/2})/\Delta x$ along the last axis.
    """
    flux = 0.5 * alpha * u * u
    speed = jnp.max(jnp.abs(alpha * u), axis=-1, keepdims=True)
    plus = 0.5 * (flux + speed * u)
    minus = 0.5 * (flux - speed * u)

    def shift(v, s):  # v_{i+s}
        return jnp.roll(v, -s, axis=-1)

    def reconstruct(vm2, vm1, v0, vp1, vp2):
        q0 = (2 * vm2 - 7 * vm1 + 11 * v0) / 6
        q1 = (-vm1 + 5 * v0 + 2 * vp1) / 6
        q2 = (2 * v0 + 5 * vp1 - vp2) / 6
        b0 = 13 / 12 * (vm2 - 2 * vm1 + v0) ** 2 + 0.25 * (vm2 - 4 * vm1 + 3 * v0) ** 2
        b1 = 13 / 12 * (vm1 - 2 * v0 + vp1) ** 2 + 0.25 * (vm1 - vp1) ** 2
        b2 = 13 / 12 * (v0 - 2 * vp1 + vp2) ** 2 + 0.25 * (3 * v0 - 4 * vp1 + vp2) ** 2
        w0 = 0.1 / (eps + b0) ** 2
        w1 = 0.6 / (eps + b1) ** 2
        w2 = 0.3 / (eps + b2) ** 2
        return (w0 * q0 + w1 * q1 + w2 * q2) / (w0 + w1 + w2)

    f_plus = reconstruct(shift(plus, -2), shift(plus, -1), plus, shift(plus, 1), shift(plus, 2))
    f_minus = reconstruct(shift(minus, 3), shift(minus, 2), shift(minus, 1), minus, shift(minus, -1))
    interface = f_plus + f_minus  # F_{i+1/2}
    return (interface - shift(interface, -1)) / dx


class CombinedEquation(AbstractNonlinearSpectralPDE):
    r"""$u_t = -\alpha(u^2/2)_x + \beta u_{xx} - \gamma u_{xxx} + \delta(t, x)$ on a periodic 1D grid.

    The linear part has Fourier symbol $-\beta k^2 - \gamma (ik)^3$; the flux is WENO5 or
    dealiased pseudo-spectral (see the module docstring). Because $\delta$ depends on time,
    :meth:`nonlinear` (the autonomous interface of the generic ETDRK steppers) raises; use
    :meth:`nonlinear_at` and :class:`~pdesolve.integrators.ForcedETDRK4`, or :meth:`rhs` with a
    method-of-lines integrator.

    **Arguments:** `grid` (1D), `alpha`, `beta` $\ge 0$, `gamma`, `forcing`
    (:class:`CombinedForcing`), `flux` (``"weno5"`` or ``"spectral"``), `dealiasing_fraction`.
    Citation: Brandstetter, Worrall & Welling, *Message passing neural PDE solvers*, ICLR 2022.
    """

    grid: PeriodicGrid
    alpha: Array
    beta: Array
    gamma: Array
    forcing: CombinedForcing
    flux: str = eqx.field(static=True)
    dealiasing_fraction: float = eqx.field(static=True)
    num_channels: ClassVar[int] = 1
    is_autonomous: ClassVar[bool] = False

    def __init__(
        self,
        grid: PeriodicGrid,
        alpha: ArrayLike,
        beta: ArrayLike,
        gamma: ArrayLike,
        forcing: CombinedForcing,
        flux: Literal["weno5", "spectral"] = "weno5",
        dealiasing_fraction: float = 2 / 3,
    ):
        if grid.ndim != 1:
            raise InvalidInputError(f"the combined equation is 1D, got a {grid.ndim}D grid")
        if flux not in FLUXES:
            raise InvalidInputError(f"flux must be one of {', '.join(FLUXES)}, got {flux!r}")
        if not isinstance(forcing, CombinedForcing):
            raise InvalidInputError(f"forcing must be a CombinedForcing, got {type(forcing).__name__}")
        if not math.isclose(forcing.extent, grid.extent[0]):
            raise InvalidInputError(f"forcing period {forcing.extent} differs from the grid extent {grid.extent[0]}")
        self.grid = grid
        self.alpha = as_parameter(alpha, "alpha", grid.dtype)
        self.beta = as_parameter(beta, "beta", grid.dtype, nonnegative=True)
        self.gamma = as_parameter(gamma, "gamma", grid.dtype)
        self.forcing = forcing
        self.flux = flux
        self.dealiasing_fraction = dealiasing_fraction

    def linear_symbol(self):
        ik = derivative_operator(self.grid)[0]
        symbol = self.beta * laplacian_symbol(self.grid) - self.gamma * ik**3
        return symbol[None].astype(self.grid.complex_dtype)

    def nonlinear(self, u_hat):
        raise InvalidInputError(
            "CombinedEquation has time-dependent forcing; step it with pdesolve.integrators.ForcedETDRK4 "
            "(or use nonlinear_at(t, u_hat)), not a generic autonomous ETDRK/IMEX stepper"
        )

    def forcing_field(self, t: Float[ArrayLike, ""]) -> Float[Array, "1 n"]:
        r"""$\delta(t, x)$ on the grid, shaped ``(1, n)``."""
        return self.forcing(t, self.grid.axes()[0])[None]

    def advection(self, u: Float[Array, "1 n"]) -> Float[Array, "1 n"]:
        r"""$-\alpha (u^2/2)_x$ in physical space (WENO5 or dealiased spectral)."""
        if self.flux == "weno5":
            return -weno5_flux_derivative(u, self.alpha, self.grid.spacing[0])
        u_hat = self.dealias(rfft(u, self.grid))
        v = irfft(u_hat, self.grid)
        return irfft(-0.5 * self.alpha * derivative_operator(self.grid)[0] * rfft(v * v, self.grid), self.grid)

    def nonlinear_at(self, t: Float[ArrayLike, ""], u_hat: Complex[Array, "1 m"]) -> Complex[Array, "1 m"]:
        r"""Fourier coefficients of $-\alpha(u^2/2)_x + \delta(t, x)$."""
        u = irfft(u_hat, self.grid)
        return rfft(self.advection(u) + self.forcing_field(t), self.grid)

    def rhs(self, t, u):
        u_hat = rfft(u, self.grid)
        return irfft(self.linear_symbol() * u_hat, self.grid) + self.advection(u) + self.forcing_field(t)

    def initial_condition(self) -> Float[Array, "1 n"]:
        r"""$u_0 = \delta(0, x)$."""
        return self.forcing_field(0.0)
