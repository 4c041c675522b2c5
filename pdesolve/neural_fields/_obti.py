r"""Optimisation-based time integration (OBTI) baseline: each step fits the scheme's targets with Adam.

Per step, the same function-space stage targets as :class:`TENG` (:class:`Euler`,
:class:`Heun`) are reached by minimising $\sum_i w_i (u_\theta(x_i) - u^*_i)^2 / \sum_i w_i$ with
``iterations`` Adam steps warm-started from the previous parameters (a first-order optimiser with
a learning rate, in contrast to TENG's least-squares projections). Used as the OBTI baseline of
TENG (Chen et al., ICML 2024).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from .._errors import InvalidInputError
from ._base import AbstractFieldSolver
from ._equations import AbstractFieldEquation
from ._projection import check_points_weights, weighted_relative_residual
from ._schemes import AbstractExplicitScheme, Heun


class OBTI(AbstractFieldSolver):
    r"""Adam-per-step time integration (see module doc).

    **Arguments:**

    - `equation`, `points`, `weights`, `dt`, `scheme`: as for :class:`TENG`.
    - `iterations`: Adam steps per stage.
    - `learning_rate`: Adam's learning rate.

    Every step reports its worst stage residual (weighted relative, as TENG's); there is no
    tolerance, so :meth:`solve` never warns.
    """

    equation: AbstractFieldEquation
    points: jax.Array
    weights: jax.Array
    scheme: AbstractExplicitScheme
    dt: float = eqx.field(static=True)
    iterations: int = eqx.field(static=True)
    learning_rate: float = eqx.field(static=True)
    tolerance: None = eqx.field(static=True, default=None)

    def __init__(self, equation, points, weights=None, *, dt=0.005, scheme: AbstractExplicitScheme = Heun(),
                 iterations=100, learning_rate=1e-4):
        if not isinstance(scheme, AbstractExplicitScheme):
            raise InvalidInputError(f"scheme must be an explicit scheme such as Heun() or Euler(), got {scheme!r}")
        if int(iterations) < 1 or not dt > 0 or not learning_rate > 0:
            raise InvalidInputError("iterations, dt and learning_rate must be positive")
        self.equation = equation
        self.points, self.weights = check_points_weights(points, weights)
        self.dt, self.scheme = float(dt), scheme
        self.iterations, self.learning_rate = int(iterations), float(learning_rate)

    @property
    def name(self) -> str:
        return f"OBTI-{self.scheme.name}"

    def fit(self, net, target, key=None):
        """``iterations`` Adam steps on the weighted misfit to ``target``; ``(net, residual, iterations)``."""
        del key
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
        return net, weighted_relative_residual(jax.vmap(net)(self.points), target, self.weights), self.iterations

    @eqx.filter_jit
    def step(self, net, key):
        """One time step; returns ``(net, (residuals, iterations))`` (per-stage residuals, total Adam steps)."""
        net, residuals, iterations = self.scheme.advance(
            net, self.dt, lambda n: jax.vmap(n)(self.points), lambda n: self.equation.rhs_on(n, self.points),
            self.fit, key)
        return net, (residuals, iterations)
