r"""Optimisation-based time integration (OBTI) baseline: each step fits the Euler/Heun target with Adam.

Per step, the same function-space targets as :class:`TENG` (Euler
$u^* = u_n + \Delta t\,\mathcal{N}[u_n]$; Heun with two stages) are reached by minimising
$\sum_i w_i (u_\theta(x_i) - u^*_i)^2 / \sum_i w_i$ with ``iterations`` Adam steps warm-started
from the previous parameters (a first-order optimiser with a learning rate, in contrast to
TENG's least-squares projections). Used as the OBTI baseline of TENG (Chen et al., ICML 2024).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from .._errors import InvalidInputError
from ._equations import AbstractFieldEquation
from ._marching import MarchResult, march
from ._teng import check_points_weights, weighted_relative_residual


class OBTI(eqx.Module):
    """Adam-per-step time integration (see module doc). Same interface as :class:`TENG`."""

    equation: AbstractFieldEquation
    points: jax.Array
    weights: jax.Array
    dt: float = eqx.field(static=True)
    scheme: str = eqx.field(static=True)
    iterations: int = eqx.field(static=True)
    learning_rate: float = eqx.field(static=True)

    def __init__(self, equation, points, weights=None, *, dt=0.005, scheme="heun", iterations=100, learning_rate=1e-4):
        if scheme not in ("euler", "heun"):
            raise InvalidInputError(f"scheme must be 'euler' or 'heun', got {scheme!r}")
        if int(iterations) < 1 or not dt > 0 or not learning_rate > 0:
            raise InvalidInputError("iterations, dt and learning_rate must be positive")
        self.equation = equation
        self.points, self.weights = check_points_weights(points, weights)
        self.dt, self.scheme = float(dt), scheme
        self.iterations, self.learning_rate = int(iterations), float(learning_rate)

    def fit(self, net, target):
        tx = optax.adam(self.learning_rate)
        total = jnp.sum(self.weights)

        def loss(n):
            return jnp.sum(self.weights * (jax.vmap(n)(self.points) - target) ** 2) / total

        def body(carry, _):
            n, state = carry
            grads = jax.grad(loss)(n)
            updates, state = tx.update(grads, state, n)
            return (optax.apply_updates(n, updates), state), None

        (net, _), _ = jax.lax.scan(body, (net, tx.init(net)), None, length=self.iterations)
        return net, weighted_relative_residual(jax.vmap(net)(self.points), target, self.weights)

    @eqx.filter_jit
    def step(self, net, key):
        del key
        u_n = jax.vmap(net)(self.points)
        rhs_n = self.equation.rhs_on(net, self.points)
        net1, res1 = self.fit(net, u_n + self.dt * rhs_n)
        if self.scheme == "euler":
            return net1, (res1, self.iterations)
        rhs_1 = self.equation.rhs_on(net1, self.points)
        net2, res2 = self.fit(net1, u_n + 0.5 * self.dt * (rhs_n + rhs_1))
        return net2, (jnp.maximum(res1, res2), 2 * self.iterations)

    def solve(self, net, num_steps, *, key=None, error_fn=None, error_every=10, progress=True) -> MarchResult:
        key = jax.random.PRNGKey(0) if key is None else key
        return march(self.step, net, num_steps, self.dt, key=key, error_fn=error_fn, error_every=error_every,
                     name=f"OBTI-{self.scheme}", progress=progress)
