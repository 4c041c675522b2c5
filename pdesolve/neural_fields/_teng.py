r"""TENG: Time-Evolving Natural Gradient (Chen, McCarran, Vizcaino, Soljačić, Luo, ICML 2024).

The state is the parameter vector $\theta$ of a network $u_\theta$. Each time step builds a
target in function space and moves $\theta$ onto it by repeated tangent-space least squares:

- Euler: $u^* = u_n + \Delta t\,\mathcal{N}[u_n]$.
- Heun: stage 1 fits $\tilde u \approx u_n + \Delta t\,\mathcal{N}[u_n]$; stage 2 starts from
  $\tilde u$ and fits $u_n + \tfrac{\Delta t}{2}(\mathcal{N}[u_n] + \mathcal{N}[\tilde u])$.

Each inner iteration solves
$\Delta\theta_S = \operatorname{arg\,min}_\delta \sum_i w_i |J_{i,S}\,\delta - (u^*_i - u_\theta(x_i))|^2$
over a random parameter subset $S$ drawn afresh, and sets $\theta_S \leftarrow \theta_S +
\Delta\theta_S$ (no learning rate). This is the natural-gradient projection of
:func:`pdesolve.optim.tangent_space_projection` (used as is with ``jacobian="jvp"``); with
``jacobian="rows"`` the full weighted Jacobian is formed row by row (one reverse-mode gradient per
collocation point, cheap on a CPU for small networks) and its subset columns go to the same dense
SVD least-squares solve (:func:`pdesolve.optim._gauss_newton.damped_lstsq`). Iterations stop
when the weighted relative residual $\|u_\theta - u^*\|_w / \|u^*\|_w$ falls below
``tolerance`` or after ``max_inner_iterations``.

Reference: Z. Chen, J. McCarran, E. Vizcaino, M. Soljačić, D. Luo, "TENG: Time-Evolving
Natural Gradient for Solving PDEs With Deep Neural Nets Toward Machine Precision", ICML 2024,
arXiv:2404.10771.
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import InvalidInputError
from ..optim import tangent_space_projection
from ..linalg import damped_lstsq
from ._equations import AbstractFieldEquation
from ._marching import MarchResult, march
from ..linalg import pointwise_jacobian

Scheme = Literal["euler", "heun"]
DEFAULT_DAMPING = (0.0, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4)


def check_points_weights(points, weights) -> tuple[Array, Array]:
    """Validate collocation points ``(N, d)`` and quadrature weights ``(N,)`` (default uniform)."""
    points = jnp.asarray(points)
    if points.ndim != 2 or points.shape[0] < 1:
        raise InvalidInputError(f"points must be shaped (N, d) with N >= 1, got shape {points.shape}")
    if weights is None:
        weights = jnp.full((points.shape[0],), 1.0 / points.shape[0], points.dtype)
    weights = jnp.asarray(weights, points.dtype)
    if weights.shape != (points.shape[0],):
        raise InvalidInputError(f"weights must have shape ({points.shape[0]},), got {weights.shape}")
    return points, weights


def weighted_relative_residual(values, target, weights) -> Float[Array, ""]:
    r"""$\|u - u^*\|_w / \|u^*\|_w$ with $\|v\|_w^2 = \sum_i w_i v_i^2$."""
    num = jnp.sqrt(jnp.sum(weights * (values - target) ** 2))
    den = jnp.sqrt(jnp.sum(weights * target**2))
    return num / jnp.maximum(den, jnp.finfo(num.dtype).tiny)


def project_onto_target(
    net,
    target: Float[Array, " N"],
    points: Float[Array, "N d"],
    weights: Float[Array, " N"],
    key: PRNGKeyArray,
    *,
    subset_size: int | None = None,
    max_iterations: int = 10,
    tolerance: float = 0.0,
    ridge: float = 0.0,
    rcond: float | None = None,
    damping=None,
    jacobian: Literal["rows", "jvp"] = "rows",
):
    r"""Move ``net`` onto ``target`` (values at ``points``) by repeated tangent-space least squares.

    Returns ``(net, relative_residual, iterations)``. Each iteration is one natural-gradient
    projection on a fresh random subset of ``subset_size`` parameters (all if ``None``).

    ``damping`` (``"rows"`` only): a sequence of relative Tikhonov parameters $\mu_k$ (include
    ``0.0`` for the plain step). Each iteration then reuses one SVD of $W^{1/2}J_S$ for the
    filters $\sigma/(\sigma^2 + \mu_k\sigma_{\max}^2)$ and keeps the trial with the smallest
    residual, or no step if none reduces it: a safeguard against the overshoot of the undamped
    step far from the target (Levenberg 1944) that costs only extra forward evaluations.
    """
    if jacobian not in ("rows", "jvp"):
        raise InvalidInputError(f"jacobian must be 'rows' or 'jvp', got {jacobian!r}")
    flat0, unravel = ravel_pytree(net)
    num_params = flat0.size
    if subset_size is not None and not 1 <= int(subset_size) <= num_params:
        raise InvalidInputError(f"subset_size must be in [1, {num_params}] (the parameter count), got {subset_size}")
    if target.shape != (points.shape[0],):
        raise InvalidInputError(f"target must have shape ({points.shape[0]},), got {target.shape}")
    sqrt_w = jnp.sqrt(weights)

    def values(flat):
        return jax.vmap(unravel(flat))(points)

    def residual(flat):
        return weighted_relative_residual(values(flat), target, weights)

    damping_grid = None if damping is None else jnp.asarray(damping, flat0.dtype)

    def safeguarded(flat, cols, delta_u, apply_step):
        # one SVD, several Tikhonov filters sigma/(sigma^2 + lam * sigma_max^2); keep the trial
        # with the smallest residual (lam = 0 is the plain TENG step; no step at all if none helps)
        u, sv, vt = jnp.linalg.svd(cols, full_matrices=False)
        cut = (jnp.finfo(sv.dtype).eps * max(cols.shape) if rcond is None else rcond) * sv[0]
        keep = sv > cut
        safe = jnp.where(keep, sv, 1.0)
        coef = u.T @ (sqrt_w * delta_u)

        def trial(lam):
            factors = jnp.where(keep, safe / (safe**2 + lam * sv[0] ** 2), 0.0)
            new = apply_step(flat, vt.T @ (factors * coef))
            return new, residual(new)

        news, res = jax.vmap(trial)(damping_grid)
        best = jnp.argmin(res)
        return jnp.where(res[best] < residual(flat), news[best], flat)

    def one_projection(flat, subkey):
        delta_u = target - values(flat)
        if jacobian == "jvp":
            delta = tangent_space_projection(
                lambda p, x: p(x), unravel(flat), points, delta_u, weights, subset_size, subkey, ridge
            )
            return flat + ravel_pytree(delta)[0]
        rows = pointwise_jacobian(lambda p, x: unravel(p)(x), flat, points)
        rows = sqrt_w[:, None] * rows
        if subset_size is None:
            if damping_grid is not None:
                return safeguarded(flat, rows, delta_u, lambda f, d: f + d)
            return flat + damped_lstsq(rows, sqrt_w * delta_u, ridge, rcond)
        idx = jax.random.choice(subkey, num_params, (int(subset_size),), replace=False)
        if damping_grid is not None:
            return safeguarded(flat, rows[:, idx], delta_u, lambda f, d: f.at[idx].add(d))
        step = damped_lstsq(rows[:, idx], sqrt_w * delta_u, ridge, rcond)
        return flat.at[idx].add(step)

    def cond(carry):
        i, _, res, _ = carry
        return (i < max_iterations) & (res > tolerance)

    def body(carry):
        i, flat, _, k = carry
        k, subkey = jax.random.split(k)
        flat = one_projection(flat, subkey)
        return i + 1, flat, residual(flat), k

    init = (jnp.asarray(0), flat0, residual(flat0), key)
    iterations, flat, res, _ = jax.lax.while_loop(cond, body, init)
    return unravel(flat), res, iterations


class TENG(eqx.Module):
    r"""Time-Evolving Natural Gradient stepper for $\partial_t u = \mathcal{N}[u]$ (see module doc).

    **Arguments:**

    - `equation`: the right-hand side $\mathcal{N}$ (e.g. :class:`HeatField`).
    - `points`: collocation points ``(N, d)``.
    - `weights`: quadrature weights ``(N,)`` (default: uniform $1/N$).
    - `dt`: time step.
    - `scheme`: ``"euler"`` or ``"heun"``.
    - `subset_size`: parameters solved for per inner iteration (``None``: all).
    - `max_inner_iterations`: inner projections per stage at most.
    - `tolerance`: stop a stage once the weighted relative residual is below this; a step that
      ends above it is reported (see :meth:`solve`).
    - `ridge`: Tikhonov parameter of each least-squares solve (plain and ``"jvp"`` steps).
    - `damping`: relative Tikhonov parameters tried on one SVD per iteration, keeping the best
      (see :func:`project_onto_target`); ``None`` gives the plain undamped TENG step. The default
      includes ``0.0``, so near the target the plain step is taken.
    - `jacobian`: ``"rows"`` (full Jacobian by per-point gradients, then subset columns) or
      ``"jvp"`` (subset columns by JVPs via :func:`pdesolve.optim.tangent_space_projection`;
      memory $O(N s)$, for large grids and GPUs).
    """

    equation: AbstractFieldEquation
    points: Float[Array, "N d"]
    weights: Float[Array, " N"]
    dt: float = eqx.field(static=True)
    scheme: str = eqx.field(static=True)
    subset_size: int | None = eqx.field(static=True)
    max_inner_iterations: int = eqx.field(static=True)
    tolerance: float = eqx.field(static=True)
    ridge: float = eqx.field(static=True)
    damping: tuple[float, ...] | None = eqx.field(static=True)
    jacobian: str = eqx.field(static=True)

    def __init__(
        self,
        equation: AbstractFieldEquation,
        points,
        weights=None,
        *,
        dt: float = 0.005,
        scheme: Scheme = "heun",
        subset_size: int | None = None,
        max_inner_iterations: int = 7,
        tolerance: float = 1e-9,
        ridge: float = 0.0,
        damping=DEFAULT_DAMPING,
        jacobian: Literal["rows", "jvp"] = "rows",
    ):
        if scheme not in ("euler", "heun"):
            raise InvalidInputError(f"scheme must be 'euler' or 'heun', got {scheme!r}")
        if not dt > 0:
            raise InvalidInputError(f"dt must be positive, got {dt}")
        if int(max_inner_iterations) < 1:
            raise InvalidInputError(f"max_inner_iterations must be >= 1, got {max_inner_iterations}")
        if jacobian not in ("rows", "jvp"):
            raise InvalidInputError(f"jacobian must be 'rows' or 'jvp', got {jacobian!r}")
        if subset_size is not None and int(subset_size) < 1:
            raise InvalidInputError(f"subset_size must be positive, got {subset_size}")
        self.equation = equation
        self.points, self.weights = check_points_weights(points, weights)
        self.dt = float(dt)
        self.scheme = scheme
        self.subset_size = None if subset_size is None else int(subset_size)
        self.max_inner_iterations = int(max_inner_iterations)
        self.tolerance = float(tolerance)
        self.ridge = float(ridge)
        self.damping = None if damping is None or jacobian == "jvp" else tuple(float(d) for d in damping)
        self.jacobian = jacobian

    def fit(self, net, target: Float[Array, " N"], key: PRNGKeyArray, max_iterations: int | None = None):
        """Project ``net`` onto ``target`` values at the collocation points; ``(net, residual, iterations)``."""
        return project_onto_target(
            net,
            target,
            self.points,
            self.weights,
            key,
            subset_size=None if self.subset_size is None else min(self.subset_size, ravel_pytree(net)[0].size),
            max_iterations=self.max_inner_iterations if max_iterations is None else int(max_iterations),
            tolerance=self.tolerance,
            ridge=self.ridge,
            damping=self.damping,
            jacobian=self.jacobian,
        )

    @eqx.filter_jit
    def step(self, net, key: PRNGKeyArray):
        """One time step; returns ``(net, (residual, iterations))`` (worst stage residual, total iterations)."""
        k1, k2 = jax.random.split(key)
        u_n = jax.vmap(net)(self.points)
        rhs_n = self.equation.rhs_on(net, self.points)
        net1, res1, it1 = self.fit(net, u_n + self.dt * rhs_n, k1)
        if self.scheme == "euler":
            return net1, (res1, it1)
        rhs_1 = self.equation.rhs_on(net1, self.points)
        net2, res2, it2 = self.fit(net1, u_n + 0.5 * self.dt * (rhs_n + rhs_1), k2)
        return net2, (jnp.maximum(res1, res2), it1 + it2)

    def solve(
        self,
        net,
        num_steps: int,
        *,
        key: PRNGKeyArray | None = None,
        error_fn=None,
        error_every: int = 10,
        snapshot_every: int | None = None,
        progress: bool = True,
    ) -> MarchResult:
        """March ``num_steps`` steps with a progress bar; warns (with the step number) when a step's
        projection ends above ``tolerance`` (see :func:`march`)."""
        key = jax.random.PRNGKey(0) if key is None else key
        return march(
            self.step,
            net,
            num_steps,
            self.dt,
            key=key,
            error_fn=error_fn,
            error_every=error_every,
            snapshot_every=snapshot_every,
            tolerance=self.tolerance,
            name=f"TENG-{self.scheme}",
            progress=progress,
        )


def fit_initial_condition(
    net,
    u0_values: Float[Array, " N"],
    points,
    weights=None,
    *,
    key: PRNGKeyArray | None = None,
    adam_steps: int = 2000,
    learning_rate: float = 1e-3,
    lbfgs_steps: int = 0,
    lbfgs_memory: int = 50,
    iterations: int = 200,
    subset_size: int | None = None,
    damping=DEFAULT_DAMPING,
    tolerance: float = 1e-12,
):
    r"""Fit ``net`` to initial values $u_0(x_i)$: Adam, then L-BFGS, then safeguarded projections.

    Minimises $\sum_i w_i (u_\theta(x_i) - u_0(x_i))^2$ in up to three stages:

    1. ``adam_steps`` Adam steps (cosine-decayed ``learning_rate``), to get near the target from
       a random initialisation;
    2. ``lbfgs_steps`` L-BFGS steps (``optax.lbfgs`` with its zoom line search and
       ``lbfgs_memory`` stored pairs; Nocedal 1980, Liu & Nocedal 1989). On the small float64
       networks of the CPU configuration this lowers the fit error far faster per second than
       more Adam steps or full Gauss-Newton steps, whose progress stalls on the tiny singular
       values of the network Jacobian;
    3. up to ``iterations`` projections of :func:`project_onto_target` (random subsets of
       ``subset_size`` parameters, damping safeguard).

    Returns ``(net, relative_residual)`` (weighted, at ``points``).
    """
    import optax

    points, weights = check_points_weights(points, weights)
    u0_values = jnp.asarray(u0_values, points.dtype)
    if u0_values.shape != (points.shape[0],):
        raise InvalidInputError(f"u0_values must have shape ({points.shape[0]},), got {u0_values.shape}")
    if int(lbfgs_steps) < 0 or int(lbfgs_memory) < 1:
        raise InvalidInputError(f"lbfgs_steps must be >= 0 and lbfgs_memory >= 1, got {lbfgs_steps}, {lbfgs_memory}")
    key = jax.random.PRNGKey(1) if key is None else key
    if adam_steps > 0:
        tx = optax.adam(optax.cosine_decay_schedule(learning_rate, int(adam_steps), 1e-2))

        def loss(n):
            return jnp.sum(weights * (jax.vmap(n)(points) - u0_values) ** 2) / jnp.sum(weights)

        @jax.jit
        def pretrain(n):
            def body(carry, _):
                n, state = carry
                updates, state = tx.update(jax.grad(loss)(n), state, n)
                return (optax.apply_updates(n, updates), state), None

            (n, _), _ = jax.lax.scan(body, (n, tx.init(n)), None, length=int(adam_steps))
            return n

        net = pretrain(net)
    if lbfgs_steps > 0:
        net = _lbfgs_fit(net, u0_values, points, weights, int(lbfgs_steps), int(lbfgs_memory))
    if iterations > 0:
        num_params = ravel_pytree(net)[0].size
        subset = None if subset_size is None else min(int(subset_size), num_params)
        net, _, _ = jax.jit(
            lambda n, k: project_onto_target(n, u0_values, points, weights, k, subset_size=subset,
                                             max_iterations=int(iterations), tolerance=tolerance, damping=damping)
        )(net, key)
    return net, weighted_relative_residual(jax.vmap(net)(points), u0_values, weights)


def _lbfgs_fit(net, u0_values, points, weights, steps: int, memory: int):
    """``steps`` L-BFGS steps on the weighted relative least-squares misfit (one jitted scan)."""
    import optax

    scale = jnp.sum(weights * u0_values**2)

    def loss(n):
        return jnp.sum(weights * (jax.vmap(n)(points) - u0_values) ** 2) / jnp.maximum(scale, jnp.finfo(scale.dtype).tiny)

    tx = optax.lbfgs(memory_size=memory)
    value_and_grad = optax.value_and_grad_from_state(loss)

    @jax.jit
    def run(n):
        def body(carry, _):
            n, state = carry
            value, grad = value_and_grad(n, state=state)
            updates, state = tx.update(grad, state, n, value=value, grad=grad, value_fn=loss)
            return (optax.apply_updates(n, updates), state), None

        (n, _), _ = jax.lax.scan(body, (n, tx.init(n)), None, length=steps)
        return n

    fitted = run(net)
    # keep the starting point if the line search produced anything non-finite
    finite = jnp.all(jnp.isfinite(ravel_pytree(fitted)[0]))
    return jax.tree_util.tree_map(lambda a, b: jnp.where(finite, a, b), fitted, net)
