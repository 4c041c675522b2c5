r"""The TENG benchmark problems on the periodic box $[0, 2\pi)^2$ and their reference solutions.

Initial condition (smooth and separable; our choice, the TENG paper's exact formula was not in
hand): $u_0(x, y) = \tfrac12 f(x) f(y)$ with $f(s) = \sin s + \tfrac12\cos 2s$.

- ``"heat"``: $u_t = 0.1\Delta u$. Exact solution: each factor's modes decay independently,
  $u = \tfrac12 F(x, t) F(y, t)$ with $F(s,t) = e^{-\nu t}\sin s + \tfrac12 e^{-4\nu t}\cos 2s$.
- ``"allen-cahn"``: $u_t = 0.005\Delta u + u - u^3$; reference from our spectral solver
  (:class:`pdesolve.pdes.AllenCahn`, ETDRK4).
- ``"burgers"``: $u_t = -u(u_x + u_y) + 0.01\Delta u$; reference from our vector Burgers solver
  (:class:`pdesolve.pdes.Burgers`, ETDRK4) started from $(u_0, u_0)$, whose components stay
  equal and each solve the scalar equation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InvalidInputError
from ._equations import AbstractFieldEquation, AllenCahnField, BurgersField, HeatField

TENG_PROBLEMS = ("heat", "allen-cahn", "burgers")


def _factor(s, t=0.0, nu=0.0):
    return jnp.exp(-nu * t) * jnp.sin(s) + 0.5 * jnp.exp(-4 * nu * t) * jnp.cos(2 * s)


def teng_initial_condition(x):
    r"""$u_0(x, y) = \tfrac12 f(x) f(y)$, $f(s) = \sin s + \tfrac12\cos 2s$ (one point or ``(..., 2)``)."""
    x = jnp.asarray(x)
    return 0.5 * _factor(x[..., 0]) * _factor(x[..., 1])


def heat_exact(points, t: float, diffusivity: float = 0.1):
    """Exact heat solution of the TENG problem at ``points`` ``(..., 2)`` and time ``t``."""
    points = jnp.asarray(points)
    return 0.5 * _factor(points[..., 0], t, diffusivity) * _factor(points[..., 1], t, diffusivity)


def grid_points(n: int, extent: float = 2 * math.pi, dtype=jnp.float64):
    """The ``n x n`` uniform periodic grid as points ``(n*n, 2)`` and equal weights ``L^2/n^2``."""
    if int(n) < 2:
        raise InvalidInputError(f"grid size must be >= 2, got {n}")
    axis = jnp.arange(n, dtype=dtype) * (extent / n)
    xx, yy = jnp.meshgrid(axis, axis, indexing="ij")
    points = jnp.stack([xx.ravel(), yy.ravel()], axis=1)
    weights = jnp.full((n * n,), (extent / n) ** 2, dtype)
    return points, weights


@dataclass
class FieldProblem:
    """One TENG benchmark problem: equation, initial condition, final time and reference."""

    name: str
    equation: AbstractFieldEquation
    final_time: float = 4.0
    reference_resolution: int = 128
    reference_dt: float = 1e-3
    _cache: dict = field(default_factory=dict, repr=False)

    def initial_values(self, points):
        return teng_initial_condition(points)

    def reference_points(self):
        return grid_points(self.reference_resolution)[0]

    def reference(self, t: float) -> np.ndarray:
        """Reference field at time ``t`` on :meth:`reference_points` (flattened ``(n*n,)``)."""
        t = float(t)
        if self.name == "heat":
            return np.asarray(heat_exact(self.reference_points(), t, self.equation.diffusivity))
        key = round(t, 10)
        if key not in self._cache:
            self._cache[key] = self._spectral(t)
        return self._cache[key]

    def _spectral(self, t: float) -> np.ndarray:
        from ..integrators import advance, etdrk
        from ..pdes import AllenCahn, Burgers
        from ..spatial import PeriodicGrid

        n = self.reference_resolution
        grid = PeriodicGrid(n, ndim=2, dtype=jnp.float64)
        u0 = teng_initial_condition(jnp.moveaxis(grid.coordinates(), 0, -1))[None]
        if self.name == "allen-cahn":
            pde = AllenCahn(grid, self.equation.diffusivity, dealiasing_fraction=1 / 2)
        else:
            pde = Burgers(grid, self.equation.viscosity)
            u0 = jnp.concatenate([u0, u0])
        steps = int(round(t / self.reference_dt))
        if steps == 0:
            return np.asarray(u0[0]).ravel()
        dt = t / steps
        u = advance(etdrk(pde, dt, 4), u0, steps)
        return np.asarray(u[0]).ravel()

    def error(self, net, t: float) -> float:
        """Relative L2 error of ``net`` against the reference at time ``t`` (on the reference grid)."""
        ref = self.reference(t)
        values = np.asarray(jax.jit(jax.vmap(net))(self.reference_points()))
        return float(np.linalg.norm(values - ref) / np.linalg.norm(ref))


def teng_problem(name: str, reference_resolution: int | None = None) -> FieldProblem:
    """The TENG problem ``name`` (one of :data:`TENG_PROBLEMS`)."""
    if name not in TENG_PROBLEMS:
        raise InvalidInputError(f"TENG problem must be one of {TENG_PROBLEMS}, got {name!r}")
    if name == "heat":
        problem = FieldProblem(name, HeatField(0.1), reference_resolution=64)
    elif name == "allen-cahn":
        problem = FieldProblem(name, AllenCahnField(0.005), reference_resolution=256)
    else:
        problem = FieldProblem(name, BurgersField(0.01), reference_resolution=256)
    if reference_resolution is not None:
        problem.reference_resolution = int(reference_resolution)
    return problem
