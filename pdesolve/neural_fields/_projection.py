r"""Tangent-space projection of a network onto function values: the inner solve of TENG.

One projection moves the parameters $\theta$ of $u_\theta$ towards target values $u^*_i$ at
collocation points $x_i$ with quadrature weights $w_i$ by the least-squares step

$$ \Delta\theta_S = \operatorname*{arg\,min}_\delta \sum_i w_i \big|J_{i,S}\,\delta - (u^*_i - u_\theta(x_i))\big|^2,
   \qquad J_{i,S} = \partial u_\theta(x_i) / \partial\theta_S, $$

over a parameter subset $S$ (all parameters, or a random subset drawn afresh), with no learning
rate. How $J_{\cdot,S}$ is formed and the step solved is an object:

- :class:`PointwiseJacobian`: the weighted subset Jacobian row by row (one reverse-mode gradient
  per point, :func:`pdesolve.linalg.pointwise_jacobian`, optionally in chunks of points so the
  memory is bounded on any grid), a dense SVD solve (:func:`pdesolve.linalg.damped_lstsq`) and an optional damping
  safeguard.
- :class:`JVPJacobian`: the subset columns by Jacobian-vector products
  (:func:`pdesolve.optim.tangent_space_projection`; memory $O(N |S|)$, for large grids and GPUs).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import InvalidInputError
from ..linalg import damped_lstsq, pointwise_jacobian
from ..optim import tangent_space_projection

#: Relative Tikhonov parameters tried by the damping safeguard of :class:`PointwiseJacobian`.
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


class AbstractTangentJacobian(eqx.Module):
    """How a projection forms the (subset) tangent-space Jacobian and solves its least-squares step."""

    @abc.abstractmethod
    def project(
        self,
        flat: Float[Array, " P"],
        unravel: Callable,
        points: Float[Array, "N d"],
        weights: Float[Array, " N"],
        delta_u: Float[Array, " N"],
        subset_size: int | None,
        key: PRNGKeyArray,
        ridge: float,
        residual: Callable[[Array], Array],
    ) -> Float[Array, " P"]:
        r"""One projection from the flat parameters ``flat``: the new flat parameters.

        ``delta_u`` is $u^* - u_\theta$ at the points; ``residual(flat)`` is the weighted relative
        residual of a trial (for safeguards).
        """


class PointwiseJacobian(AbstractTangentJacobian):
    r"""Row-built Jacobian and a dense SVD least-squares step, with an optional damping safeguard.

    **Arguments:**

    - `damping`: relative Tikhonov parameters $\mu_k$ (include ``0.0`` for the plain step). Each
      projection reuses one SVD of $W^{1/2}J_S$ for the filters
      $\sigma/(\sigma^2 + \mu_k\sigma_{\max}^2)$ and keeps the trial with the smallest residual,
      or no step if none reduces it: a safeguard against the overshoot of the undamped step far
      from the target (Levenberg 1944) that costs only extra forward evaluations. ``None`` gives
      the plain undamped step (with `ridge`).
    - `rcond`: relative singular-value cutoff (``None``: machine precision times the size).
    - `chunk_size`: collocation points per batch of per-point gradients (``None``: all at once).
      Only the subset's columns are kept, so the memory is $O(N |S|)$ for the Jacobian plus
      $O(\text{chunk\_size} \cdot P)$ for the gradients, on any grid.
    """

    damping: tuple[float, ...] | None = eqx.field(static=True)
    rcond: float | None = eqx.field(static=True)
    chunk_size: int | None = eqx.field(static=True)

    def __init__(self, damping: Sequence[float] | None = DEFAULT_DAMPING, rcond: float | None = None,
                 chunk_size: int | None = None):
        if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                       or chunk_size < 1):
            raise InvalidInputError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
        self.chunk_size = chunk_size
        if damping is not None:
            damping = tuple(float(d) for d in damping)
            if not damping or any(not d >= 0 for d in damping):
                raise InvalidInputError(f"damping must be a non-empty sequence of values >= 0 or None, got {damping}")
        self.damping = damping
        self.rcond = None if rcond is None else float(rcond)

    def project(self, flat, unravel, points, weights, delta_u, subset_size, key, ridge, residual):
        sqrt_w = jnp.sqrt(weights)
        if subset_size is None:
            idx, apply_step = None, lambda f, d: f + d
        else:
            idx = jax.random.choice(key, flat.size, (int(subset_size),), replace=False)
            apply_step = lambda f, d: f.at[idx].add(d)  # noqa: E731
        cols = sqrt_w[:, None] * pointwise_jacobian(lambda p, x: unravel(p)(x), flat, points,
                                                    chunk_size=self.chunk_size, columns=idx)
        if self.damping is None:
            return apply_step(flat, damped_lstsq(cols, sqrt_w * delta_u, ridge, self.rcond))
        return self._safeguarded(flat, cols, sqrt_w * delta_u, apply_step, residual)

    def _safeguarded(self, flat, cols, rhs, apply_step, residual):
        # one SVD, several Tikhonov filters; keep the trial with the smallest residual (damping 0 is
        # the plain step; no step at all if none helps)
        u, sv, vt = jnp.linalg.svd(cols, full_matrices=False)
        cut = (jnp.finfo(sv.dtype).eps * max(cols.shape) if self.rcond is None else self.rcond) * sv[0]
        keep = sv > cut
        safe = jnp.where(keep, sv, 1.0)
        coef = u.T @ rhs

        def trial(lam):
            factors = jnp.where(keep, safe / (safe**2 + lam * sv[0] ** 2), 0.0)
            new = apply_step(flat, vt.T @ (factors * coef))
            return new, residual(new)

        news, res = jax.vmap(trial)(jnp.asarray(self.damping, flat.dtype))
        best = jnp.argmin(res)
        return jnp.where(res[best] < residual(flat), news[best], flat)


class JVPJacobian(AbstractTangentJacobian):
    r"""Subset Jacobian columns by JVPs and an SVD step (:func:`pdesolve.optim.tangent_space_projection`)."""

    def project(self, flat, unravel, points, weights, delta_u, subset_size, key, ridge, residual):
        delta = tangent_space_projection(lambda p, x: p(x), unravel(flat), points, delta_u, weights, subset_size, key,
                                         ridge)
        return flat + ravel_pytree(delta)[0]


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
    jacobian: AbstractTangentJacobian | None = None,
):
    r"""Move ``net`` onto ``target`` (values at ``points``) by repeated tangent-space least squares.

    Returns ``(net, relative_residual, iterations)``. Each iteration is one projection (see the
    module doc) on a fresh random subset of ``subset_size`` parameters (all if ``None``);
    iterations stop when the weighted relative residual $\|u_\theta - u^*\|_w / \|u^*\|_w$ is at
    most ``tolerance`` or after ``max_iterations``.

    **Arguments:**

    - `net`: the network (its only leaves are floating arrays).
    - `target`, `points`, `weights`: target values ``(N,)`` at points ``(N, d)``, quadrature weights.
    - `key`: PRNG key of the subset draws.
    - `ridge`: Tikhonov parameter of each least-squares solve.
    - `jacobian`: :class:`PointwiseJacobian` (default: ``PointwiseJacobian(damping=None)``, the plain
      step; :class:`TENG` and :func:`fit_initial_condition` default to the damping safeguard) or
      :class:`JVPJacobian`.
    """
    jacobian = PointwiseJacobian(damping=None) if jacobian is None else jacobian
    if not isinstance(jacobian, AbstractTangentJacobian):
        raise InvalidInputError(f"jacobian must be PointwiseJacobian(...) or JVPJacobian(), got {jacobian!r}")
    flat0, unravel = ravel_pytree(net)
    num_params = flat0.size
    if subset_size is not None and not 1 <= int(subset_size) <= num_params:
        raise InvalidInputError(f"subset_size must be in [1, {num_params}] (the parameter count), got {subset_size}")
    if target.shape != (points.shape[0],):
        raise InvalidInputError(f"target must have shape ({points.shape[0]},), got {target.shape}")

    def values(flat):
        return jax.vmap(unravel(flat))(points)

    def residual(flat):
        return weighted_relative_residual(values(flat), target, weights)

    def cond(carry):
        i, _, res, _ = carry
        return (i < max_iterations) & (res > tolerance)

    def body(carry):
        i, flat, _, k = carry
        k, subkey = jax.random.split(k)
        flat = jacobian.project(flat, unravel, points, weights, target - values(flat), subset_size, subkey, ridge,
                                residual)
        return i + 1, flat, residual(flat), k

    init = (jnp.asarray(0), flat0, residual(flat0), key)
    iterations, flat, res, _ = jax.lax.while_loop(cond, body, init)
    return unravel(flat), res, iterations
