r"""INSR: implicit neural spatial representations for time-dependent PDEs (Chen et al., ICML 2023).

The state is the weights of a SIREN $u_\theta$. Each time step is an optimisation, warm-started
from the previous weights $\theta_n$, of the time-integrator residual on collocation points
drawn afresh at every iteration, for an implicit scheme object (:class:`ImplicitEuler`,
:class:`ImplicitMidpoint`):

- implicit Euler: $r(x) = u_\theta(x) - u_n(x) - \Delta t\,\mathcal{N}[u_\theta](x)$;
- implicit midpoint: $r(x) = u_\theta(x) - u_n(x) - \Delta t\,\mathcal{N}[\tfrac12(u_\theta + u_n)](x)$;

where $u_n$ is a frozen copy of the previous network. On a bounded domain the step also needs
the boundary data of the PDE: for advection the implicit step
$u + \tfrac12\Delta t\,a\,u_x = g$ is a first-order ODE in $x$ whose homogeneous solution
$e^{-2x/(a\Delta t)}$ has zero residual, so without an inflow condition the network is free to
grow a boundary layer at the inflow end. Optional Dirichlet data $u(x_b) = g_b$ add the term
$w\,\overline{(u_\theta(x_b) - g_b)^2}$. The loss $\overline{r^2}$ (+ boundary term) is minimised by
Adam with the learning rate cut by ``plateau_factor`` on plateaus
(:func:`optax.contrib.reduce_on_plateau`); the step ends after ``max_iterations`` or once the
learning-rate scale falls below ``min_scale`` (early stop at the smallest learning rate, as in the
paper). Optionally a :class:`LeastSquaresFinish` ends the step with Gauss-Newton /
Levenberg-Marquardt iterations (:func:`pdesolve.optim.least_squares_solve`) on a fixed sample set.

:func:`insr_taylor_green` applies the same idea to 2D incompressible flow by operator
splitting (semi-Lagrangian advection with implicit diffusion, pressure Poisson, projection),
each stage a fit of its own network.

Reference: H. Chen, R. Wu, E. Grinspun, C. Zheng, P. Y. Chen, "Implicit Neural Spatial
Representations for Time-dependent PDEs", ICML 2023.
"""

from __future__ import annotations

import time
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._errors import InvalidInputError
from ..linalg import pointwise_jacobian
from ..problems import FieldProblem
from ._base import AbstractFieldSolver
from ._equations import AbstractFieldEquation
from ._marching import MarchResult
from ._schemes import AbstractImplicitScheme, ImplicitMidpoint


def _adam_plateau(learning_rate, factor, patience, min_scale):
    return optax.chain(
        optax.adam(learning_rate),
        optax.contrib.reduce_on_plateau(factor=factor, patience=patience, cooldown=patience // 2,
                                        accumulation_size=10, min_scale=min_scale * 0.5),
    )


def minimise_sampled(loss, params, key, *, learning_rate, max_iterations, factor, patience, min_scale):
    """Adam + reduce-on-plateau on ``loss(params, key)`` with a fresh key per iteration.

    Stops after ``max_iterations`` or when the plateau scale drops below ``min_scale``.
    Returns ``(params, last_loss, iterations)``.
    """
    tx = _adam_plateau(learning_rate, factor, patience, min_scale)

    def cond(carry):
        i, _, state, _, _ = carry
        return (i < max_iterations) & (state[1].scale >= min_scale)

    def body(carry):
        i, p, state, k, _ = carry
        k, sub = jax.random.split(k)
        value, grads = jax.value_and_grad(loss)(p, sub)
        updates, state = tx.update(grads, state, p, value=value)
        return i + 1, optax.apply_updates(p, updates), state, k, value

    init = (jnp.asarray(0), params, tx.init(params), key, jnp.asarray(jnp.inf, jnp.float64))
    i, params, _, _, value = jax.lax.while_loop(cond, body, init)
    return params, value, i


class LeastSquaresFinish(eqx.Module):
    r"""Finish each INSR step by least-squares iterations on a fixed sample of collocation points.

    The step's residual vector (:meth:`INSR.scaled_residuals`) on `num_points` points drawn once
    per step is minimised by `steps` updates of `optimiser`
    (:func:`pdesolve.optim.least_squares_solve`, with the dense Jacobian of
    :meth:`INSR.scaled_jacobian`).

    **Arguments:**

    - `optimiser`: a least-squares transform, e.g. :func:`pdesolve.optim.levenberg_marquardt`
      (default) or :func:`pdesolve.optim.gauss_newton`.
    - `steps`: iterations per step.
    - `num_points`: size of the fixed sample.
    """

    optimiser: optax.GradientTransformationExtraArgs = eqx.field(static=True)
    steps: int = eqx.field(static=True)
    num_points: int = eqx.field(static=True)

    def __init__(self, optimiser: optax.GradientTransformation | None = None, *, steps: int = 10,
                 num_points: int = 2000):
        from ..optim import levenberg_marquardt

        if int(steps) < 1 or int(num_points) < 1:
            raise InvalidInputError(f"steps and num_points must be >= 1, got {steps}, {num_points}")
        self.optimiser = levenberg_marquardt() if optimiser is None else optimiser
        self.steps, self.num_points = int(steps), int(num_points)


class INSR(AbstractFieldSolver):
    r"""INSR time stepper for $\partial_t u = \mathcal{N}[u]$ on a box (see module doc).

    **Arguments:**

    - `equation`: right-hand side (e.g. :class:`AdvectionField`, :class:`HeatField`).
    - `lower`, `upper`: the sampling box.
    - `dt`: time step.
    - `scheme`: :class:`ImplicitMidpoint` (default) or :class:`ImplicitEuler`.
    - `num_samples`: collocation points drawn per iteration.
    - `max_iterations`: Adam iterations per step at most.
    - `learning_rate`, `plateau_factor`, `plateau_patience`, `min_scale`: Adam with plateau decay;
      the step stops once the scale is below `min_scale`.
    - `finish`: an optional :class:`LeastSquaresFinish` run after Adam in every step.
    - `tolerance`: a step whose final RMS residual exceeds this is reported with a warning.
    - `boundary_points`, `boundary_values`: optional Dirichlet data, points of shape ``(nb, d)``
      and values ``(nb,)`` held at every step (e.g. the inflow end for advection).
    - `boundary_weight`: weight $w$ of the boundary term (default 1).
    """

    equation: AbstractFieldEquation
    scheme: AbstractImplicitScheme
    finish: LeastSquaresFinish | None
    boundary_points: jax.Array | None
    boundary_values: jax.Array | None
    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    num_samples: int = eqx.field(static=True)
    max_iterations: int = eqx.field(static=True)
    learning_rate: float = eqx.field(static=True)
    plateau_factor: float = eqx.field(static=True)
    plateau_patience: int = eqx.field(static=True)
    min_scale: float = eqx.field(static=True)
    tolerance: float | None = eqx.field(static=True)
    boundary_weight: float = eqx.field(static=True)

    def __init__(
        self,
        equation: AbstractFieldEquation,
        lower,
        upper,
        *,
        dt: float = 0.05,
        scheme: AbstractImplicitScheme = ImplicitMidpoint(),
        num_samples: int = 5000,
        max_iterations: int = 2000,
        learning_rate: float = 1e-4,
        plateau_factor: float = 0.1,
        plateau_patience: int = 50,
        min_scale: float = 1e-2,
        finish: LeastSquaresFinish | None = None,
        tolerance: float | None = None,
        boundary_points=None,
        boundary_values=None,
        boundary_weight: float = 1.0,
    ):
        lower = tuple(float(v) for v in np.atleast_1d(lower))
        upper = tuple(float(v) for v in np.atleast_1d(upper))
        if len(lower) != len(upper) or any(not b > a for a, b in zip(lower, upper)):
            raise InvalidInputError(f"need lower < upper on every axis, got {lower}, {upper}")
        if not isinstance(scheme, AbstractImplicitScheme):
            raise InvalidInputError(
                f"scheme must be an implicit scheme such as ImplicitMidpoint() or ImplicitEuler(), got {scheme!r}")
        if finish is not None and not isinstance(finish, LeastSquaresFinish):
            raise InvalidInputError(f"finish must be a LeastSquaresFinish or None, got {finish!r}")
        for name, value in (("num_samples", num_samples), ("max_iterations", max_iterations), ("plateau_patience", plateau_patience)):
            if int(value) < 1:
                raise InvalidInputError(f"{name} must be >= 1, got {value}")
        if not dt > 0 or not learning_rate > 0:
            raise InvalidInputError("dt and learning_rate must be positive")
        self.equation = equation
        self.lower, self.upper = lower, upper
        self.dt, self.scheme = float(dt), scheme
        self.num_samples, self.max_iterations = int(num_samples), int(max_iterations)
        self.learning_rate, self.plateau_factor = float(learning_rate), float(plateau_factor)
        self.plateau_patience, self.min_scale = int(plateau_patience), float(min_scale)
        self.finish = finish
        self.tolerance = tolerance
        if (boundary_points is None) != (boundary_values is None):
            raise InvalidInputError("give both boundary_points and boundary_values, or neither")
        if boundary_points is not None:
            boundary_points = jnp.asarray(boundary_points, jnp.float64).reshape(-1, len(lower))
            boundary_values = jnp.asarray(boundary_values, jnp.float64).reshape(-1)
            if boundary_points.shape[0] != boundary_values.shape[0]:
                raise InvalidInputError(
                    f"{boundary_points.shape[0]} boundary points but {boundary_values.shape[0]} boundary values")
            if not boundary_weight > 0:
                raise InvalidInputError(f"boundary_weight must be positive, got {boundary_weight}")
        self.boundary_points, self.boundary_values = boundary_points, boundary_values
        self.boundary_weight = float(boundary_weight)

    @property
    def name(self) -> str:
        return f"INSR-{self.scheme.name}"

    def sample(self, key, n: int):
        lo, hi = jnp.asarray(self.lower), jnp.asarray(self.upper)
        return lo + (hi - lo) * jax.random.uniform(key, (n, len(self.lower)), jnp.float64)

    def residual(self, net, prev, points):
        r"""Time-integrator residual $r(x_i)$ of ``net`` given the frozen previous network ``prev``."""
        u_new = jax.vmap(net)(points)
        u_old = jax.vmap(prev)(points)
        rhs = self.equation.rhs_on(self.scheme.rhs_field(net, prev), points)
        return u_new - u_old - self.dt * rhs

    def _row_scales(self, num_points: int):
        r"""Row weights of :meth:`scaled_residuals`: $1/\sqrt{n}$ inside, $\sqrt{w/n_b}$ on the boundary."""
        boundary = 0.0 if self.boundary_points is None else jnp.sqrt(self.boundary_weight / self.boundary_points.shape[0])
        return 1.0 / jnp.sqrt(num_points), boundary

    def scaled_residuals(self, net, prev, points):
        r"""Residual vector whose squared norm is the step loss: interior $r/\sqrt{n}$, then the
        boundary misfit scaled by $\sqrt{w/n_b}$ (if boundary data are given)."""
        inside, boundary = self._row_scales(points.shape[0])
        r = self.residual(net, prev, points) * inside
        if self.boundary_points is None:
            return r
        misfit = jax.vmap(net)(self.boundary_points) - self.boundary_values
        return jnp.concatenate([r, misfit * boundary])

    def scaled_jacobian(self, params, static, prev, points):
        r"""Dense Jacobian of :meth:`scaled_residuals` with respect to the flattened ``params``.

        Built by :func:`pointwise_jacobian` (one reverse-mode gradient per point).
        """
        inside, boundary = self._row_scales(points.shape[0])
        rows = pointwise_jacobian(lambda q, y: self.residual(eqx.combine(q, static), prev, y[None])[0] * inside,
                                  params, points)
        if self.boundary_points is None:
            return rows
        edge = pointwise_jacobian(lambda q, y: eqx.combine(q, static)(y) * boundary, params, self.boundary_points)
        return jnp.concatenate([rows, edge])

    def loss(self, net, prev, key):
        return jnp.sum(self.scaled_residuals(net, prev, self.sample(key, self.num_samples)) ** 2)

    @eqx.filter_jit
    def step(self, net, key):
        """One step: returns ``(net, (rms_residual, iterations))``; the RMS includes the boundary term."""
        from ..optim import least_squares_solve

        prev = jax.lax.stop_gradient(net)
        params, static = eqx.partition(net, eqx.is_inexact_array)
        k1, k2, k3 = jax.random.split(key, 3)
        params, _, iterations = minimise_sampled(
            lambda p, k: self.loss(eqx.combine(p, static), prev, k),
            params,
            k1,
            learning_rate=self.learning_rate,
            max_iterations=self.max_iterations,
            factor=self.plateau_factor,
            patience=self.plateau_patience,
            min_scale=self.min_scale,
        )
        net = eqx.combine(params, static)
        if self.finish is not None:
            fixed = self.sample(k2, self.finish.num_points)
            params, _ = least_squares_solve(
                lambda p: self.scaled_residuals(eqx.combine(p, static), prev, fixed),
                params,
                self.finish.steps,
                self.finish.optimiser,
                jacobian_fn=lambda p: self.scaled_jacobian(p, static, prev, fixed),
            )
            net = eqx.combine(params, static)
            iterations = iterations + self.finish.steps
        check = self.sample(k3, self.num_samples)
        rms = jnp.sqrt(jnp.sum(self.scaled_residuals(net, prev, check) ** 2))
        return net, (rms, iterations)


def fit_network(net, target_fn, lower, upper, *, key=None, num_points=4000, adam_steps=3000, learning_rate=1e-3,
                lm_steps=0):
    r"""Fit ``net`` to a function ``target_fn(x)`` on the box (Adam on fresh samples, then optional LM).

    Returns ``(net, rms_error)`` on a fixed check sample.
    """
    from ..optim import least_squares_solve

    lo, hi = jnp.atleast_1d(jnp.asarray(lower, jnp.float64)), jnp.atleast_1d(jnp.asarray(upper, jnp.float64))
    key = jax.random.PRNGKey(3) if key is None else key
    params, static = eqx.partition(net, eqx.is_inexact_array)

    def sample(k, n):
        return lo + (hi - lo) * jax.random.uniform(k, (n, lo.size), jnp.float64)

    def loss(p, k):
        pts = sample(k, num_points)
        return jnp.mean((jax.vmap(eqx.combine(p, static))(pts) - jax.vmap(target_fn)(pts)) ** 2)

    tx = optax.adam(optax.cosine_decay_schedule(learning_rate, max(int(adam_steps), 1), 1e-2))

    @jax.jit
    def train(p, k):
        def body(carry, k):
            p, state = carry
            grads = jax.grad(loss)(p, k)
            updates, state = tx.update(grads, state, p)
            return (optax.apply_updates(p, updates), state), None

        (p, _), _ = jax.lax.scan(body, (p, tx.init(p)), jax.random.split(k, int(adam_steps)))
        return p

    k1, k2, k3 = jax.random.split(key, 3)
    if adam_steps > 0:
        params = train(params, k1)
    if lm_steps > 0:
        fixed = sample(k2, num_points)
        target = jax.vmap(target_fn)(fixed)

        def jacobian(q):
            return pointwise_jacobian(lambda r, y: eqx.combine(r, static)(y), q, fixed)

        params, _ = jax.jit(
            lambda p: least_squares_solve(lambda q: jax.vmap(eqx.combine(q, static))(fixed) - target, p, int(lm_steps),
                                          "levenberg_marquardt", jacobian_fn=jacobian)
        )(params)
    net = eqx.combine(params, static)
    check = sample(k3, num_points)
    return net, float(jnp.sqrt(jnp.mean((jax.vmap(net)(check) - jax.vmap(target_fn)(check)) ** 2)))


# ----------------------------------------------------------------------------------------------
# The equal-memory grid solver of the 1D advection benchmark
# ----------------------------------------------------------------------------------------------


def grid_advection_crank_nicolson(problem: FieldProblem, num_points: int, num_steps: int, *, dt: float | None = None,
                                  scheme: Literal["fd2", "spectral"] = "fd2"):
    r"""Grid solver for the 1D advection problem $u_t + a u_x = 0$ (e.g. ``insr-advection``)
    with ``num_points`` values, periodic on ``[problem.lower, problem.upper)``.

    Time: Crank-Nicolson (the implicit midpoint rule, as INSR) with step ``dt`` (default
    ``problem.dt``). Space: second-order central differences (``"fd2"``, modified wavenumber
    $\sin(kh)/h$) or Fourier (``"spectral"``). Both are diagonal in Fourier space, so each step
    is exact division there. Returns ``(x, u_final)``.
    """
    if problem.ndim != 1 or "velocity" not in problem.coefficients:
        raise InvalidInputError(f"grid_advection_crank_nicolson needs a 1D advection problem, got {problem.name!r}")
    if int(num_points) < 4:
        raise InvalidInputError(f"num_points must be >= 4, got {num_points}")
    if scheme not in ("fd2", "spectral"):
        raise InvalidInputError(f"scheme must be 'fd2' or 'spectral', got {scheme!r}")
    dt = problem.dt if dt is None else float(dt)
    velocity = problem.coefficients["velocity"]
    (lower,), (upper,) = problem.lower, problem.upper
    length = upper - lower
    h = length / num_points
    x = lower + h * np.arange(num_points)
    k = 2 * np.pi * np.fft.fftfreq(num_points, d=h)
    kk = np.sin(k * h) / h if scheme == "fd2" else k
    amp = (1 - 0.5 * dt * velocity * 1j * kk) / (1 + 0.5 * dt * velocity * 1j * kk)
    u_hat = np.fft.fft(np.asarray(problem.initial_values(x[:, None])))
    u = np.real(np.fft.ifft(u_hat * amp**num_steps))
    return x, u


# ----------------------------------------------------------------------------------------------
# 2D incompressible flow (Taylor-Green) by operator splitting
# ----------------------------------------------------------------------------------------------


def _divergence(f, x):
    return jnp.trace(jax.jacfwd(f)(x))


def insr_taylor_green(
    velocity_net,
    pressure_net,
    *,
    viscosity: float = 0.01,
    dt: float = 0.05,
    num_steps: int = 10,
    num_samples: int = 2000,
    iterations: int = 300,
    learning_rate: float = 1e-4,
    key=None,
    error_fn=None,
    progress: bool = False,
):
    r"""Taylor-Green flow on $[0, 2\pi)^2$ with INSR operator splitting.

    Per step, with $\mathbf{u}_n$ frozen:

    1. advection + diffusion: fit $\mathbf{u}^*$ to
       $\mathbf{u}^*(x) - \nu\Delta t\,\Delta\mathbf{u}^*(x) = \mathbf{u}_n(x - \Delta t\,\mathbf{u}_n(x))$
       (semi-Lagrangian advection, implicit Euler diffusion);
    2. pressure: fit $p$ to $\Delta p = \nabla\cdot\mathbf{u}^* / \Delta t$;
    3. projection: fit $\mathbf{u}_{n+1} = \mathbf{u}^* - \Delta t\,\nabla p$.

    Each fit is :func:`minimise_sampled` (Adam, plateau decay, fresh samples) warm-started from
    the previous weights. ``velocity_net`` maps a point to ``(2,)``; ``pressure_net`` to a scalar.
    Returns a :class:`MarchResult` whose ``errors`` come from ``error_fn(velocity_net, t)``.
    """
    key = jax.random.PRNGKey(0) if key is None else key
    two_pi = 2 * jnp.pi
    opts = dict(learning_rate=learning_rate, max_iterations=iterations, factor=0.1, patience=50, min_scale=1e-2)

    def sample(k):
        return two_pi * jax.random.uniform(k, (num_samples, 2), jnp.float64)

    @eqx.filter_jit
    def one_step(vel, pres, k):
        prev = jax.lax.stop_gradient(vel)
        vp, vs = eqx.partition(vel, eqx.is_inexact_array)
        pp, ps = eqx.partition(pres, eqx.is_inexact_array)
        ka, kp, kq = jax.random.split(k, 3)

        def advect_loss(p, kk):
            u = eqx.combine(p, vs)
            x = sample(kk)
            back = jax.vmap(lambda y: prev(y - dt * prev(y)))(x)
            lap = jax.vmap(lambda y: jnp.stack([jnp.trace(jax.hessian(lambda z: u(z)[c])(y)) for c in range(2)]))(x)
            return jnp.mean((jax.vmap(u)(x) - viscosity * dt * lap - back) ** 2)

        vp, _, _ = minimise_sampled(advect_loss, vp, ka, **opts)
        star = jax.lax.stop_gradient(eqx.combine(vp, vs))

        def pressure_loss(p, kk):
            q = eqx.combine(p, ps)
            x = sample(kk)
            lap = jax.vmap(lambda y: jnp.trace(jax.hessian(q)(y)))(x)
            div = jax.vmap(lambda y: _divergence(star, y))(x)
            return jnp.mean((lap - div / dt) ** 2)

        pp, _, _ = minimise_sampled(pressure_loss, pp, kp, **opts)
        pres = jax.lax.stop_gradient(eqx.combine(pp, ps))

        def project_loss(p, kk):
            u = eqx.combine(p, vs)
            x = sample(kk)
            target = jax.vmap(lambda y: star(y) - dt * jax.grad(pres)(y))(x)
            return jnp.mean(jnp.sum((jax.vmap(u)(x) - target) ** 2, axis=-1))

        vp, loss, _ = minimise_sampled(project_loss, vp, kq, **opts)
        return eqx.combine(vp, vs), pres, loss

    result = MarchResult(state=velocity_net)
    if error_fn is not None:
        result.times.append(0.0)
        result.errors.append(float(error_fn(velocity_net, 0.0)))
    start = time.perf_counter()
    vel, pres = velocity_net, pressure_net
    for n, k in enumerate(jax.random.split(key, num_steps), start=1):
        vel, pres, loss = one_step(vel, pres, k)
        result.residuals.append(float(loss))
        if error_fn is not None:
            result.times.append(n * dt)
            result.errors.append(float(error_fn(vel, n * dt)))
        if progress:
            print(f"  TG step {n}/{num_steps}: projection loss {float(loss):.2e}"
                  + (f", error {result.errors[-1]:.3e}" if error_fn is not None else ""), flush=True)
    result.final_time = num_steps * dt
    result.wall_s = time.perf_counter() - start
    result.state = vel
    return result
