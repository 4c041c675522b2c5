r"""Time-stepping schemes of the neural-field solvers, as objects passed to the solvers.

Explicit schemes (:class:`TENG`, :class:`OBTI`) march $\partial_t u = \mathcal{N}[u]$ by fitting
the network to a sequence of function-space stage targets built from the values $u_n$ and the
slopes $k_j = \mathcal{N}[u^{(j)}]$ of the networks fitted so far:

- :class:`Euler`: one fit, $u^* = u_n + \Delta t\,k_0$.
- :class:`Heun`: fit $u^{(1)} \approx u_n + \Delta t\,k_0$, then $u^* = u_n + \tfrac{\Delta t}{2}(k_0 + k_1)$.

Implicit schemes (:class:`INSR`) define the residual a step minimises,
$r = u_\theta - u_n - \Delta t\,\mathcal{N}[v]$, by the field $v$ the right-hand side is taken at:

- :class:`ImplicitEuler`: $v = u_\theta$.
- :class:`ImplicitMidpoint`: $v = \tfrac12(u_\theta + u_n)$.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


class AbstractExplicitScheme(eqx.Module):
    r"""An explicit scheme in function space: ``num_stages`` fits, each to a stage target.

    Subclasses set `name` and `num_stages` and define :meth:`stage_target`; :meth:`advance`
    runs the stages.
    """

    name: eqx.AbstractClassVar[str]
    num_stages: eqx.AbstractClassVar[int]

    @abc.abstractmethod
    def stage_target(self, stage: int, u_n: Float[Array, " N"], slopes: list, dt: float) -> Float[Array, " N"]:
        r"""The target of fit ``stage`` (0-based) from $u_n$ and the slopes $k_0..k_{stage}$."""

    def advance(
        self,
        state: Any,
        dt: float,
        values: Callable[[Any], Array],
        rhs: Callable[[Any], Array],
        fit: Callable[[Any, Array, PRNGKeyArray], tuple[Any, Array, Array]],
        key: PRNGKeyArray,
    ):
        r"""One step: returns ``(state, residuals, iterations)`` (the residual of each stage, shape
        ``(num_stages,)``, and the total inner iterations).

        **Arguments:**

        - `state`: the network (any pytree).
        - `dt`: the time step.
        - `values`: ``state -> u`` at the collocation points.
        - `rhs`: ``state -> N[u]`` at the collocation points.
        - `fit`: ``(state, target, key) -> (state, residual, iterations)``, warm-started from `state`.
        - `key`: split into one key per fit (at least two, so a one-stage scheme draws what the
          first stage of a two-stage scheme draws).
        """
        keys = jax.random.split(key, max(2, self.num_stages))
        u_n = values(state)
        slopes = [rhs(state)]
        residuals, iterations = [], None
        for stage in range(self.num_stages):
            state, res, its = fit(state, self.stage_target(stage, u_n, slopes, dt), keys[stage])
            residuals.append(res)
            iterations = its if iterations is None else iterations + its
            if stage + 1 < self.num_stages:
                slopes.append(rhs(state))
        return state, jnp.stack(residuals), iterations


class Euler(AbstractExplicitScheme):
    r"""Forward Euler: $u^* = u_n + \Delta t\,\mathcal{N}[u_n]$ (first order)."""

    name: ClassVar[str] = "euler"
    num_stages: ClassVar[int] = 1

    def stage_target(self, stage, u_n, slopes, dt):
        return u_n + dt * slopes[0]


class Heun(AbstractExplicitScheme):
    r"""Heun's method (second order): fit $u^{(1)} \approx u_n + \Delta t\,k_0$, then
    $u^* = u_n + \tfrac{\Delta t}{2}(k_0 + k_1)$ with $k_1 = \mathcal{N}[u^{(1)}]$."""

    name: ClassVar[str] = "heun"
    num_stages: ClassVar[int] = 2

    def stage_target(self, stage, u_n, slopes, dt):
        if stage == 0:
            return u_n + dt * slopes[0]
        return u_n + 0.5 * dt * (slopes[0] + slopes[1])


class AbstractImplicitScheme(eqx.Module):
    r"""An implicit one-step rule $u_{n+1} = u_n + \Delta t\,\mathcal{N}[v]$, by the field $v$."""

    name: eqx.AbstractClassVar[str]

    @abc.abstractmethod
    def rhs_field(self, u: Callable, u_n: Callable) -> Callable:
        r"""The field $v$ (a function of one point) at which $\mathcal{N}$ is evaluated."""


class ImplicitEuler(AbstractImplicitScheme):
    r"""Implicit (backward) Euler: $v = u_{n+1}$ (first order, damping)."""

    name: ClassVar[str] = "implicit_euler"

    def rhs_field(self, u, u_n):
        return u


class ImplicitMidpoint(AbstractImplicitScheme):
    r"""Implicit midpoint: $v = \tfrac12(u_{n+1} + u_n)$ (second order; Crank-Nicolson for linear $\mathcal{N}$)."""

    name: ClassVar[str] = "midpoint"

    def rhs_field(self, u, u_n):
        return lambda x: 0.5 * (u(x) + u_n(x))
