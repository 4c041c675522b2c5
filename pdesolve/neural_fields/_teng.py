r"""TENG: Time-Evolving Natural Gradient (Chen, McCarran, Vizcaino, Soljačić, Luo, ICML 2024).

The state is the parameter vector $\theta$ of a network $u_\theta$. Each time step builds
function-space targets with an explicit scheme (:class:`Euler`, :class:`Heun`; see
:mod:`._schemes`) and moves $\theta$ onto each by repeated tangent-space least squares
(:func:`project_onto_target`): each inner iteration solves

$$ \Delta\theta_S = \operatorname*{arg\,min}_\delta \sum_i w_i |J_{i,S}\,\delta - (u^*_i - u_\theta(x_i))|^2 $$

over a random parameter subset $S$ drawn afresh and sets $\theta_S \leftarrow \theta_S +
\Delta\theta_S$ (no learning rate), with the Jacobian formed by a :class:`PointwiseJacobian`
(rows by per-point gradients, dense SVD, damping safeguard) or a :class:`JVPJacobian`
(:func:`pdesolve.optim.tangent_space_projection`). Iterations stop when the weighted relative
residual $\|u_\theta - u^*\|_w / \|u^*\|_w$ falls below ``tolerance`` or after
``max_inner_iterations``.

Reference: Z. Chen, J. McCarran, E. Vizcaino, M. Soljačić, D. Luo, "TENG: Time-Evolving
Natural Gradient for Solving PDEs With Deep Neural Nets Toward Machine Precision", ICML 2024,
arXiv:2404.10771.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import InvalidInputError
from ._base import AbstractFieldSolver
from ._equations import AbstractFieldEquation
from ._projection import (
    AbstractTangentJacobian,
    PointwiseJacobian,
    check_points_weights,
    project_onto_target,
    weighted_relative_residual,
)
from ._schemes import AbstractExplicitScheme, Heun


class TENG(AbstractFieldSolver):
    r"""Time-Evolving Natural Gradient stepper for $\partial_t u = \mathcal{N}[u]$ (see module doc).

    **Arguments:**

    - `equation`: the right-hand side $\mathcal{N}$ (e.g. :class:`HeatField`, or
      :func:`field_equation` of a registered problem).
    - `points`: collocation points ``(N, d)``.
    - `weights`: quadrature weights ``(N,)`` (default: uniform $1/N$).
    - `dt`: time step.
    - `scheme`: :class:`Heun` (default) or :class:`Euler`.
    - `subset_size`: parameters solved for per inner iteration (``None``: all).
    - `max_inner_iterations`: inner projections per stage at most.
    - `tolerance`: stop a stage once the weighted relative residual is below this; a step that
      ends above it is reported (see :meth:`solve`).
    - `ridge`: Tikhonov parameter of each least-squares solve.
    - `jacobian`: :class:`PointwiseJacobian` (default; its damping safeguard includes the plain
      step, taken near the target) or :class:`JVPJacobian` (memory $O(N s)$, for large grids
      and GPUs).
    """

    equation: AbstractFieldEquation
    points: Float[Array, "N d"]
    weights: Float[Array, " N"]
    scheme: AbstractExplicitScheme
    jacobian: AbstractTangentJacobian
    dt: float = eqx.field(static=True)
    subset_size: int | None = eqx.field(static=True)
    max_inner_iterations: int = eqx.field(static=True)
    tolerance: float = eqx.field(static=True)
    ridge: float = eqx.field(static=True)

    def __init__(
        self,
        equation: AbstractFieldEquation,
        points,
        weights=None,
        *,
        dt: float = 0.005,
        scheme: AbstractExplicitScheme = Heun(),
        subset_size: int | None = None,
        max_inner_iterations: int = 7,
        tolerance: float = 1e-9,
        ridge: float = 0.0,
        jacobian: AbstractTangentJacobian = PointwiseJacobian(),
    ):
        if not isinstance(scheme, AbstractExplicitScheme):
            raise InvalidInputError(f"scheme must be an explicit scheme such as Heun() or Euler(), got {scheme!r}")
        if not isinstance(jacobian, AbstractTangentJacobian):
            raise InvalidInputError(f"jacobian must be PointwiseJacobian(...) or JVPJacobian(), got {jacobian!r}")
        if not dt > 0:
            raise InvalidInputError(f"dt must be positive, got {dt}")
        if int(max_inner_iterations) < 1:
            raise InvalidInputError(f"max_inner_iterations must be >= 1, got {max_inner_iterations}")
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
        self.jacobian = jacobian

    @property
    def name(self) -> str:
        return f"TENG-{self.scheme.name}"

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
            jacobian=self.jacobian,
        )

    @eqx.filter_jit
    def step(self, net, key: PRNGKeyArray):
        """One time step; returns ``(net, (residuals, iterations))`` (per-stage residuals, total iterations)."""
        net, residuals, iterations = self.scheme.advance(
            net, self.dt, lambda n: jax.vmap(n)(self.points), lambda n: self.equation.rhs_on(n, self.points),
            self.fit, key)
        return net, (residuals, iterations)


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
    jacobian: AbstractTangentJacobian = PointwiseJacobian(),
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
       ``subset_size`` parameters, with ``jacobian``: by default the damping safeguard).

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
                                             max_iterations=int(iterations), tolerance=tolerance, jacobian=jacobian)
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
