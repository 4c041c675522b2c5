r"""Constraint points and loss points of hard-constrained models on a domain split among experts.

A constraint set is a :class:`ConstraintPoints` with a leading expert axis $K$: expert $k$'s
points, their *types* (which condition holds there) and target values. Type codes: 0 PDE
(value 0), 1 initial value, 2 left boundary, 3 right boundary (the 1D problems of
:mod:`pdesolve.problems`). The global layer is the case $K = 1$.

- 1D, $(x, \tau) \in (0,1)^2$ cut into $K$ slabs in $x$: :func:`slab_points`,
  :func:`slab_interface_points`, :func:`slab_loss_points`.
- 2D periodic, $(x, y, \tau)$ with $(x, y)$ cut into $a\times a$ quadrants ($K = a^2$,
  $k = a\,i_x + i_y$): :func:`quadrant_points`, :func:`quadrant_point_counts`,
  :func:`quadrant_interface_points`, :func:`quadrant_loss_points`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._errors import InvalidInputError
from ..problems import SlabProblem


class ConstraintPoints(NamedTuple):
    """Every expert's constraint points ``(K, m, d)``, their types ``(K, m)`` and target values ``(K, m)``."""

    points: Float[Array, "k m d"]
    types: Int[Array, "k m"]
    values: Float[Array, "k m"]


def _with_pde_points(pts, typ, val, x, t):
    """One expert's points, types and values: the given sets plus PDE points (type 0, value 0) at (x, t)."""
    pts = [*pts, jnp.stack([x, t], 1)]
    typ = [*typ, jnp.zeros(x.shape[0], int)]
    val = [*val, jnp.zeros(x.shape[0])]
    return jnp.concatenate(pts), jnp.concatenate(typ), jnp.concatenate(val)


def _stack_experts(experts) -> ConstraintPoints:
    return ConstraintPoints(*(jnp.stack(parts) for parts in zip(*experts)))


def slab_points(problem: SlabProblem, num_experts: int, per_expert: int, key: PRNGKeyArray, overlap: float = 0.0,
                global_conditions: bool = False) -> ConstraintPoints:
    r"""Constraint points of $K$ slabs $[k/K, (k+1)/K]$ in $x$, $m$ = `per_expert` points each.

    Of the $M = Km$ points, $\max(2, M/8)$ lie on each physical boundary (at
    $\tau_j = (j + \frac12)/n$) and $\max(3, M/4)$ on the initial line, the rest are PDE points
    drawn uniformly (`key`).

    - Default: each slab takes its share of the initial points (evenly spaced) and the boundary
      points of its physical boundaries; without overlap the experts' sets partition the global
      ($K = 1$) layer's. `overlap` widens each expert's region by that many slab widths per side
      (the expert still owns only its slab).
    - ``global_conditions``: every expert takes all initial and boundary points of the global set
      and its own slab's share of the PDE points (as in Chalapathi et al.'s code).

    Raises :class:`~pdesolve.InvalidInputError` when an expert has no room for PDE points.
    """
    if global_conditions:
        return _global_condition_points(problem, num_experts, per_expert, key)
    total = num_experts * per_expert
    n_bc = max(2, total // 8)  # per physical boundary
    n_ic = max(3, total // 4) // num_experts  # per slab
    t_bc = (jnp.arange(n_bc) + 0.5) / n_bc
    experts = []
    keys = jax.random.split(key, num_experts)
    for k in range(num_experts):
        lo = max(0.0, (k - overlap) / num_experts)
        hi = min(1.0, (k + 1 + overlap) / num_experts)
        xi = lo + (hi - lo) * (jnp.arange(n_ic) + 0.5) / n_ic
        pts, typ, val = [jnp.stack([xi, jnp.zeros(n_ic)], 1)], [jnp.full(n_ic, 1)], [problem.initial_value(xi)]
        if lo == 0.0:
            pts.append(jnp.stack([jnp.zeros(n_bc), t_bc], 1))
            typ.append(jnp.full(n_bc, 2))
            val.append(jnp.full(n_bc, problem.left_value))
        if hi == 1.0:
            pts.append(jnp.stack([jnp.ones(n_bc), t_bc], 1))
            typ.append(jnp.full(n_bc, 3))
            val.append(jnp.zeros(n_bc))
        n_pde = per_expert - sum(p.shape[0] for p in pts)
        if n_pde < 1:
            raise InvalidInputError(f"per_expert={per_expert} leaves expert {k} no PDE points next to its "
                                    f"{per_expert - n_pde} initial/boundary points (use more points or fewer experts)")
        kk = jax.random.split(keys[k], 2)
        x = lo + (hi - lo) * jax.random.uniform(kk[0], (n_pde,), minval=0.01, maxval=0.99)
        t = jax.random.uniform(kk[1], (n_pde,), minval=0.01, maxval=1.0)
        experts.append(_with_pde_points(pts, typ, val, x, t))
    return _stack_experts(experts)


def _global_condition_points(problem: SlabProblem, num_experts: int, per_expert: int, key) -> ConstraintPoints:
    total = num_experts * per_expert
    n_bc, n_ic = max(2, total // 8), max(3, total // 4)
    n_pde = (total - n_ic - 2 * n_bc) // num_experts
    if n_pde < 1:
        raise InvalidInputError(f"per_expert={per_expert} leaves no room for PDE points next to the "
                                f"{n_ic + 2 * n_bc} initial/boundary points")
    t_bc = (jnp.arange(n_bc) + 0.5) / n_bc
    xi = (jnp.arange(n_ic) + 0.5) / n_ic
    pts = [jnp.stack([xi, jnp.zeros(n_ic)], 1), jnp.stack([jnp.zeros(n_bc), t_bc], 1),
           jnp.stack([jnp.ones(n_bc), t_bc], 1)]
    typ = [jnp.full(n_ic, 1), jnp.full(n_bc, 2), jnp.full(n_bc, 3)]
    val = [problem.initial_value(xi), jnp.full(n_bc, problem.left_value), jnp.zeros(n_bc)]
    experts = []
    for k, kk in enumerate(jax.random.split(key, num_experts)):
        kx, kt = jax.random.split(kk)
        x = (k + jax.random.uniform(kx, (n_pde,), minval=0.01, maxval=0.99)) / num_experts
        t = jax.random.uniform(kt, (n_pde,), minval=0.01, maxval=1.0)
        experts.append(_with_pde_points(pts, typ, val, x, t))
    return _stack_experts(experts)


def slab_interface_points(num_experts: int, per_interface: int) -> tuple[Array, Array, Array]:
    r"""Points $(k/K, \tau_j)$, $\tau_j = (j + \frac12)/n$, on the $K - 1$ interfaces of $K$ slabs
    in $x$, with the experts before and after each: ``(points (P, 2), before (P,), after (P,))``."""
    tau = (jnp.arange(per_interface) + 0.5) / per_interface
    points, before, after = [], [], []
    for k in range(1, num_experts):
        points.append(jnp.stack([jnp.full_like(tau, k / num_experts), tau], 1))
        before.append(jnp.full(per_interface, k - 1))
        after.append(jnp.full(per_interface, k))
    return jnp.concatenate(points), jnp.concatenate(before), jnp.concatenate(after)


def slab_loss_points(key: PRNGKeyArray, num_interior: int, num_boundary: int) -> tuple[Array, Array, Array, Array]:
    r"""Uniform loss points on $(0,1)^2$: ``(interior (P, 2), initial (B, 2), left (B, 2), right (B, 2))``."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    interior = jax.random.uniform(k1, (num_interior, 2))
    x_ic = jax.random.uniform(k2, (num_boundary,))
    t_bc = jax.random.uniform(k3, (num_boundary,))
    t_bc2 = jax.random.uniform(k4, (num_boundary,))
    return (interior, jnp.stack([x_ic, jnp.zeros_like(x_ic)], 1), jnp.stack([jnp.zeros_like(t_bc), t_bc], 1),
            jnp.stack([jnp.ones_like(t_bc2), t_bc2], 1))


def quadrant_point_counts(total: int, experts_per_axis: int, initial_points: bool = True) -> tuple[int, int]:
    r"""``(initial points per axis, PDE points per expert)`` for $M$ = `total` points: about half of
    them on a square initial grid, the rest PDE points shared equally; without `initial_points`
    (an initial lift makes the initial condition exact) all $M$ are PDE points."""
    ic_per_axis = int(round(math.sqrt(total // 2))) if initial_points else 0
    return ic_per_axis, (total - ic_per_axis**2) // experts_per_axis**2


def quadrant_points(w0: Float[Array, "n n"], experts_per_axis: int, ic_per_axis: int, pde_per_expert: int,
                    key: PRNGKeyArray, overlap: float = 0.0, margin: float = 0.0,
                    shared_pde: int = 0) -> ConstraintPoints:
    r"""Constraint points $(x, y, \tau)$ of $a\times a$ periodic quadrants, $k = a\,i_x + i_y$.

    - Initial points (type 1, value $w_0$): an `ic_per_axis`$^2$ sub-grid of the grid of `w0`;
      each expert takes those in its quadrant widened by `overlap` quadrant widths per side
      (periodic), so with `overlap` > 0 neighbours share the initial points near their edge.
    - PDE points (type 0): `pde_per_expert` uniform in the expert's own quadrant shrunk by
      `margin` per side, $\tau \in (0.01, 1)$; never shared, so a prediction that uses the owner's
      field there satisfies them exactly. `shared_pde` $= q > 0$ adds the first $q$ PDE points of
      every other expert to each expert's set.

    With `overlap` = `margin` = 0 the experts' points partition the global set. Raises
    :class:`~pdesolve.InvalidInputError` if the experts would get different numbers of points.
    """
    n = w0.shape[0]
    a = experts_per_axis
    stride = n // max(ic_per_axis, 1)
    index = np.arange(ic_per_axis) * stride + stride // 2  # empty with ic_per_axis = 0
    half = (0.5 + overlap) / a

    def nodes_near(centre):  # grid indices within `half` of centre, periodic distance
        distance = np.abs((index / n - centre + 0.5) % 1.0 - 0.5)
        return index[distance <= half + 1e-12]

    ics, pdes, ic_values = [], [], []
    keys = jax.random.split(key, a * a)
    for ix in range(a):
        for iy in range(a):
            i, j = (nodes_near((ix + 0.5) / a), nodes_near((iy + 0.5) / a)) if ic_per_axis else (index, index)
            ii, jj = np.meshgrid(i, j, indexing="ij")
            ics.append(jnp.stack([ii.ravel() / n, jj.ravel() / n, jnp.zeros(ii.size)], 1))
            ic_values.append(w0[ii.ravel(), jj.ravel()])
            u = jax.random.uniform(keys[ix * a + iy], (pde_per_expert, 3))
            core = 1 - 2 * margin * a  # the quadrant's width 1/a shrunk by margin per side, in units of 1/a
            pdes.append(jnp.stack([(ix + margin * a + core * u[:, 0]) / a, (iy + margin * a + core * u[:, 1]) / a,
                                   0.01 + 0.99 * u[:, 2]], 1))
    points, types, values = [], [], []
    for k, (ic, ic_value) in enumerate(zip(ics, ic_values)):
        pde = jnp.concatenate([pdes[k], *(other[:shared_pde] for j, other in enumerate(pdes) if j != k)])
        points.append(jnp.concatenate([ic, pde]))
        types.append(jnp.concatenate([jnp.ones(ic.shape[0], int), jnp.zeros(pde.shape[0], int)]))
        values.append(jnp.concatenate([ic_value, jnp.zeros(pde.shape[0])]))
    if len({p.shape[0] for p in points}) > 1:
        raise InvalidInputError(f"overlap={overlap} gives the experts different numbers of initial points; "
                                "choose initial points per axis divisible by the experts per axis")
    return ConstraintPoints(jnp.stack(points), jnp.stack(types), jnp.stack(values))


def quadrant_interface_points(experts_per_axis: int, per_segment: int) -> tuple[Array, Array, Array]:
    r"""Points $(x, y, \tau)$ on the edges between $a\times a$ periodic quadrants, with the experts on
    either side: `per_segment` points on each edge segment (the lines $x = c/a$ and $y = c/a$, each
    cut into $a$ segments by the other axis), staggered in $\tau$."""
    a = experts_per_axis
    points, before, after = [], [], []
    for axis in (0, 1):
        for c in range(a):
            for j in range(a):
                offset = 0.618 * (j + a * c + 2 * a * a * axis)
                for i in range(per_segment):
                    along = (j + (i + 0.5) / per_segment) / a
                    tau = ((i + 0.5) / per_segment + offset) % 1.0
                    points.append([c / a, along, tau] if axis == 0 else [along, c / a, tau])
                    if axis == 0:
                        before.append(((c - 1) % a) * a + j)
                        after.append(c * a + j)
                    else:
                        before.append(j * a + (c - 1) % a)
                        after.append(j * a + c)
    return jnp.asarray(points), jnp.asarray(before), jnp.asarray(after)


def quadrant_loss_points(key: PRNGKeyArray, num_interior: int, num_boundary: int,
                         resolution: int) -> tuple[Array, Array, Array, Array]:
    r"""Loss points: ``(interior (P, 3) uniform, initial grid indices (B, 2), edge positions s (B,),
    edge times tau (B,))`` for a grid of `resolution` nodes per axis."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    interior = jax.random.uniform(k1, (num_interior, 3))
    return (interior, jax.random.randint(k2, (num_boundary, 2), 0, resolution),
            jax.random.uniform(k3, (num_boundary,)), jax.random.uniform(k4, (num_boundary,)))
