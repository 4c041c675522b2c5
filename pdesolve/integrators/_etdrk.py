r"""Exponential time differencing Runge-Kutta (ETDRK) schemes of orders 1-4.

For $u_t = \mathcal{L}u + \mathcal{N}(u)$ with diagonal $\mathcal{L}$ (Fourier symbol $L$),
ETD integrates the linear part exactly and the nonlinear part with Runge-Kutta stages
(Cox & Matthews, J. Comput. Phys. 2002). The $\varphi$-function coefficients are evaluated
by the contour-integral method of Kassam & Trefethen (SIAM J. Sci. Comput. 2005): each
coefficient $g(z)$, $z = L\Delta t$, is the mean of $g$ over $M$ points on a circle of radius
$r$ centred at $z$, which avoids the cancellation of the explicit formulas near $z = 0$.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Complex, Float

from .._errors import InvalidInputError
from ..pdes import AbstractSpectralPDE
from ..spatial import irfft, rfft
from ._base import AbstractSpectralStepper, check_time_step


def contour_mean(
    function: Callable[[Array], Array],
    z: Complex[Array, "..."],
    num_points: int = 32,
    radius: float = 1.0,
) -> Complex[Array, "..."]:
    r"""$\frac{1}{M}\sum_{j} g(z + r e^{i\theta_j})$, $\theta_j = 2\pi (j + 1/2)/M$ (Cauchy mean value).

    Exact for analytic $g$ up to $O(r^M)$ aliasing; used for the ETD $\varphi$-functions.
    """
    theta = 2 * jnp.pi * (jnp.arange(num_points) + 0.5) / num_points
    roots = (radius * jnp.exp(1j * theta)).astype(z.dtype)
    shifted = z[..., None] + roots
    return jnp.mean(function(shifted), axis=-1)


def _phi1(z):
    return (jnp.exp(z) - 1) / z


def _phi2(z):
    return (jnp.exp(z) - 1 - z) / z**2


def _kt_alpha(z):
    return (-4 - z + jnp.exp(z) * (4 - 3 * z + z**2)) / z**3


def _kt_beta(z):
    return (2 + z + jnp.exp(z) * (z - 2)) / z**3


def _kt_gamma(z):
    return (-4 - 3 * z - z**2 + jnp.exp(z) * (4 - z)) / z**3


class _ETDRKBase(AbstractSpectralStepper):
    pde: AbstractSpectralPDE
    dt: float = eqx.field(static=True)
    exp_full: Array
    expm1_full: Array

    def _setup(self, pde, dt):
        if not isinstance(pde, AbstractSpectralPDE):
            raise InvalidInputError(
                f"ETDRK needs a spectral (periodic) PDE, got {type(pde).__name__}; "
                "use MethodOfLines or ExplicitRK for finite-difference PDEs"
            )
        self.pde = pde
        self.dt = check_time_step(dt)
        z = pde.linear_symbol() * self.dt
        self.exp_full = jnp.broadcast_to(jnp.exp(z), pde.spectral_shape)
        # Steps are written as u + (expm1(z) u + ...): the rounding of exp(z) is then relative
        # to the increment, not to u, and no longer acts as a systematic decay-rate error
        # ~eps/dt per mode (which dominated float32 errors over long rollouts).
        self.expm1_full = jnp.broadcast_to(jnp.expm1(z), pde.spectral_shape)
        return jnp.broadcast_to(z, pde.spectral_shape)


class ETDRK1(_ETDRKBase):
    r"""Exponential Euler: $\hat u_{n+1} = e^{z}\hat u_n + \Delta t\,\varphi_1(z)\,\hat N_n$ (order 1).

    **Arguments:** `pde` (a spectral PDE), `dt`, `num_circle_points` and `circle_radius`
    of the contour integral.
    """

    coef_1: Array

    def __init__(self, pde: AbstractSpectralPDE, dt: float, num_circle_points: int = 32, circle_radius: float = 1.0):
        z = self._setup(pde, dt)
        self.coef_1 = self.dt * contour_mean(_phi1, z, num_circle_points, circle_radius)

    def step_fourier(self, u_hat):
        if self.pde.is_linear:
            return u_hat + self.expm1_full * u_hat
        return u_hat + (self.expm1_full * u_hat + self.coef_1 * self.pde.nonlinear(u_hat))


class ETDRK2(_ETDRKBase):
    r"""Cox-Matthews ETD2RK (order 2).

    $a = e^z\hat u_n + \Delta t\varphi_1(z)\hat N_n$, then
    $\hat u_{n+1} = a + \Delta t\,\varphi_2(z)\,(\hat N(a) - \hat N_n)$.
    """

    coef_1: Array
    coef_2: Array

    def __init__(self, pde: AbstractSpectralPDE, dt: float, num_circle_points: int = 32, circle_radius: float = 1.0):
        z = self._setup(pde, dt)
        self.coef_1 = self.dt * contour_mean(_phi1, z, num_circle_points, circle_radius)
        self.coef_2 = self.dt * contour_mean(_phi2, z, num_circle_points, circle_radius)

    def step_fourier(self, u_hat):
        if self.pde.is_linear:
            return u_hat + self.expm1_full * u_hat
        n0 = self.pde.nonlinear(u_hat)
        a = u_hat + (self.expm1_full * u_hat + self.coef_1 * n0)
        return a + self.coef_2 * (self.pde.nonlinear(a) - n0)


class ETDRK3(_ETDRKBase):
    r"""Cox-Matthews ETD3RK (order 3).

    $a = e^{z/2}\hat u_n + \tfrac{\Delta t}{2}\varphi_1(z/2)\hat N_n$,
    $b = e^{z}\hat u_n + \Delta t\varphi_1(z)(2\hat N(a) - \hat N_n)$,
    $\hat u_{n+1} = e^z\hat u_n + \Delta t[\alpha(z)\hat N_n + 4\beta(z)\hat N(a) + \gamma(z)\hat N(b)]$.
    """

    exp_half: Array
    expm1_half: Array
    coef_half: Array
    coef_full: Array
    alpha: Array
    beta: Array
    gamma: Array

    def __init__(self, pde: AbstractSpectralPDE, dt: float, num_circle_points: int = 32, circle_radius: float = 1.0):
        z = self._setup(pde, dt)
        m, r = num_circle_points, circle_radius
        self.exp_half = jnp.exp(z / 2)
        self.expm1_half = jnp.expm1(z / 2)
        self.coef_half = 0.5 * self.dt * contour_mean(_phi1, z / 2, m, r)
        self.coef_full = self.dt * contour_mean(_phi1, z, m, r)
        self.alpha = self.dt * contour_mean(_kt_alpha, z, m, r)
        self.beta = self.dt * contour_mean(_kt_beta, z, m, r)
        self.gamma = self.dt * contour_mean(_kt_gamma, z, m, r)

    def step_fourier(self, u_hat):
        if self.pde.is_linear:
            return u_hat + self.expm1_full * u_hat
        nl = self.pde.nonlinear
        n0 = nl(u_hat)
        a = u_hat + (self.expm1_half * u_hat + self.coef_half * n0)
        na = nl(a)
        b = u_hat + (self.expm1_full * u_hat + self.coef_full * (2 * na - n0))
        nb = nl(b)
        return u_hat + (self.expm1_full * u_hat + self.alpha * n0 + 4 * self.beta * na + self.gamma * nb)


class ETDRK4(_ETDRKBase):
    r"""Cox-Matthews ETDRK4 with Kassam-Trefethen contour coefficients (order 4).

    With $E = e^{z}$, $E_2 = e^{z/2}$, $Q = \tfrac{\Delta t}{2}\varphi_1(z/2)$:
    $a = E_2\hat u + Q\hat N(\hat u)$, $b = E_2\hat u + Q\hat N(a)$,
    $c = E_2 a + Q(2\hat N(b) - \hat N(\hat u))$,
    $\hat u_{n+1} = E\hat u + \Delta t[\alpha\hat N(\hat u) + 2\beta(\hat N(a) + \hat N(b)) + \gamma\hat N(c)]$.
    """

    exp_half: Array
    expm1_half: Array
    coef_half: Array
    alpha: Array
    beta: Array
    gamma: Array

    def __init__(self, pde: AbstractSpectralPDE, dt: float, num_circle_points: int = 32, circle_radius: float = 1.0):
        z = self._setup(pde, dt)
        m, r = num_circle_points, circle_radius
        self.exp_half = jnp.exp(z / 2)
        self.expm1_half = jnp.expm1(z / 2)
        self.coef_half = 0.5 * self.dt * contour_mean(_phi1, z / 2, m, r)
        self.alpha = self.dt * contour_mean(_kt_alpha, z, m, r)
        self.beta = self.dt * contour_mean(_kt_beta, z, m, r)
        self.gamma = self.dt * contour_mean(_kt_gamma, z, m, r)

    def step_fourier(self, u_hat):
        if self.pde.is_linear:
            return u_hat + self.expm1_full * u_hat
        nl = self.pde.nonlinear
        n0 = nl(u_hat)
        a = u_hat + (self.expm1_half * u_hat + self.coef_half * n0)
        na = nl(a)
        b = u_hat + (self.expm1_half * u_hat + self.coef_half * na)
        nb = nl(b)
        c = a + (self.expm1_half * a + self.coef_half * (2 * nb - n0))
        nc = nl(c)
        return u_hat + (
            self.expm1_full * u_hat + self.alpha * n0 + 2 * self.beta * (na + nb) + self.gamma * nc
        )


class ForcedETDRK4(AbstractSpectralStepper):
    r"""ETDRK4 for a non-autonomous PDE $u_t = \mathcal{L}u + \mathcal{N}(t, u)$: ``stepper(u, t) -> u(t + dt)``.

    Uses the Kassam-Trefethen coefficients of :class:`ETDRK4` and evaluates
    $\hat N(t, \cdot)$ (:meth:`~pdesolve.pdes.AbstractSpectralPDE.nonlinear_at`) at the
    Cox-Matthews stage times $t$, $t + h/2$, $t + h/2$, $t + h$ (Cox & Matthews, J. Comput.
    Phys. 2002), so a time-dependent forcing keeps fourth order. With $\mathcal{L} = 0$ this is
    the classical RK4 method. Roll it out with :func:`~pdesolve.integrators.solve_at_times`,
    which carries the time.

    **Arguments:** `pde` (a spectral PDE, typically with ``is_autonomous = False``, e.g.
    :class:`~pdesolve.pdes.CombinedEquation`), `dt`.
    """

    pde: AbstractSpectralPDE
    dt: float = eqx.field(static=True)
    coefficients: ETDRK4
    autonomous: ClassVar[bool] = False

    def __init__(self, pde: AbstractSpectralPDE, dt: float):
        self.coefficients = ETDRK4(pde, dt)
        self.pde = pde
        self.dt = self.coefficients.dt

    def step_fourier(self, u_hat: Complex[Array, "c ..."], t: Float[ArrayLike, ""] = 0.0) -> Complex[Array, "c ..."]:
        """Advance real-FFT coefficients from time `t` by one step."""
        c = self.coefficients
        h = self.dt
        nl = self.pde.nonlinear_at
        n0 = nl(t, u_hat)
        a = u_hat + (c.expm1_half * u_hat + c.coef_half * n0)
        na = nl(t + h / 2, a)
        b = u_hat + (c.expm1_half * u_hat + c.coef_half * na)
        nb = nl(t + h / 2, b)
        cc = a + (c.expm1_half * a + c.coef_half * (2 * nb - n0))
        nc = nl(t + h, cc)
        return u_hat + (c.expm1_full * u_hat + c.alpha * n0 + 2 * c.beta * (na + nb) + c.gamma * nc)

    def __call__(self, u: Float[Array, "c ..."], t: Float[ArrayLike, ""] = 0.0) -> Float[Array, "c ..."]:
        r"""$u(t + \Delta t)$ from $u(t)$."""
        self.pde.check_state(u, "u")
        grid = self.pde.grid
        return irfft(self.step_fourier(rfft(u, grid), t), grid).astype(u.dtype)


def etdrk(pde: AbstractSpectralPDE, dt: float, order: int = 4, **kwargs) -> _ETDRKBase:
    """Build the ETDRK stepper of the given `order` (1-4) for `pde`."""
    classes = {1: ETDRK1, 2: ETDRK2, 3: ETDRK3, 4: ETDRK4}
    if order not in classes:
        raise InvalidInputError(f"ETDRK order must be 1, 2, 3 or 4, got {order}")
    return classes[order](pde, dt, **kwargs)
