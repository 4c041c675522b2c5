r"""Right-hand sides $\mathcal{N}[u](x)$ of $\partial_t u = \mathcal{N}[u]$ for coordinate networks.

The derivatives come from automatic differentiation of the field $u: \mathbb{R}^d \to
\mathbb{R}$ (a network, or any scalar JAX function of one point): $\nabla u$ by reverse mode,
$\Delta u$ as the trace of the forward-over-reverse Hessian. Each equation's ``rhs(u, x)``
evaluates $\mathcal{N}[u]$ at one point; ``vmap`` it over points. :func:`field_equation` derives
the equation of a registered field problem from its declared PDE.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._errors import InvalidInputError
from ..pdes import Advection, AllenCahn, Burgers, Heat
from ..problems import FieldProblem

ScalarField = Callable[[Float[Array, " d"]], Float[Array, ""]]


def laplacian(u: ScalarField, x: Float[Array, " d"]) -> Float[Array, ""]:
    r"""$\Delta u(x) = \operatorname{tr}\nabla^2 u(x)$ by forward-over-reverse autodiff."""
    return jnp.trace(jax.jacfwd(jax.grad(u))(x))


def _value_gradient_laplacian(u: ScalarField, x):
    grad_fn = jax.grad(u)
    hess = jax.jacfwd(grad_fn)(x)
    return u(x), grad_fn(x), jnp.trace(hess)


def _nonnegative(name: str, value: float) -> float:
    value = float(value)
    if not value >= 0:
        raise InvalidInputError(f"{name} must be >= 0, got {value}")
    return value


class AbstractFieldEquation(eqx.Module):
    r"""An evolution equation $\partial_t u = \mathcal{N}[u]$ for a scalar field."""

    @abc.abstractmethod
    def rhs(self, u: ScalarField, x: Float[Array, " d"]) -> Float[Array, ""]:
        r"""$\mathcal{N}[u](x)$ at one point ``x``."""

    def rhs_on(self, u: ScalarField, points: Float[Array, "N d"]) -> Float[Array, " N"]:
        r"""$\mathcal{N}[u]$ at every row of ``points``."""
        return jax.vmap(lambda x: self.rhs(u, x))(points)


class HeatField(AbstractFieldEquation):
    r"""Heat equation $u_t = \nu\Delta u$."""

    diffusivity: float = eqx.field(static=True)

    def __init__(self, diffusivity: float = 0.1):
        self.diffusivity = _nonnegative("diffusivity", diffusivity)

    def rhs(self, u, x):
        return self.diffusivity * laplacian(u, x)


class AllenCahnField(AbstractFieldEquation):
    r"""Allen-Cahn equation $u_t = \epsilon\Delta u + u - u^3$."""

    diffusivity: float = eqx.field(static=True)

    def __init__(self, diffusivity: float = 0.005):
        self.diffusivity = _nonnegative("diffusivity", diffusivity)

    def rhs(self, u, x):
        value, _, lap = _value_gradient_laplacian(u, x)
        return self.diffusivity * lap + value - value**3


class BurgersField(AbstractFieldEquation):
    r"""Scalar viscous Burgers equation $u_t = -u\sum_i \partial_i u + \nu\Delta u$ (TENG form).

    In 2D this is $u_t = -u(u_x + u_y) + \nu\Delta u$, the vector Burgers equation restricted to
    equal velocity components $(u, u)$.
    """

    viscosity: float = eqx.field(static=True)

    def __init__(self, viscosity: float = 0.01):
        self.viscosity = _nonnegative("viscosity", viscosity)

    def rhs(self, u, x):
        value, grad, lap = _value_gradient_laplacian(u, x)
        return -value * jnp.sum(grad) + self.viscosity * lap


class AdvectionField(AbstractFieldEquation):
    r"""Linear advection $u_t = -c\cdot\nabla u$ with constant velocity $c$."""

    velocity: tuple[float, ...] = eqx.field(static=True)

    def __init__(self, velocity: float | tuple[float, ...] = 0.25):
        self.velocity = (float(velocity),) if jnp.ndim(velocity) == 0 else tuple(float(v) for v in velocity)

    def rhs(self, u, x):
        if x.shape != (len(self.velocity),):
            raise InvalidInputError(f"AdvectionField has {len(self.velocity)} velocity components, point has shape {x.shape}")
        return -jnp.dot(jnp.asarray(self.velocity, x.dtype), jax.grad(u)(x))


def field_equation(problem: FieldProblem) -> AbstractFieldEquation:
    r"""The field equation of a registered :class:`~pdesolve.problems.FieldProblem`.

    Maps the declared :mod:`pdesolve.pdes` class and its coefficients to the right-hand side on
    networks: ``Heat(diffusivity)`` to :class:`HeatField`, ``AllenCahn(diffusivity)`` to
    :class:`AllenCahnField`, ``Burgers(viscosity)`` to :class:`BurgersField` (the scalar form
    with equal velocity components) and ``Advection(velocity)`` to :class:`AdvectionField`.
    """
    if not isinstance(problem, FieldProblem):
        raise InvalidInputError(f"field_equation needs a FieldProblem, got {type(problem).__name__}")
    fields = {Heat: HeatField, AllenCahn: AllenCahnField, Burgers: BurgersField, Advection: AdvectionField}
    if problem.pde not in fields:
        raise InvalidInputError(f"{problem.name}: no field equation for {problem.pde.__name__}; "
                                f"known: {', '.join(p.__name__ for p in fields)}")
    return fields[problem.pde](**problem.coefficients)
