r"""Implicit differentiation of solvers: :func:`custom_root` and :func:`custom_fixed_point`.

Let a solver return $x^\star(\theta)$ with $F(x^\star(\theta), \theta) = 0$ for an *optimality
function* $F$ (same pytree structure in and out in $x$). If $\partial_x F$ is invertible at
the solution, the implicit function theorem gives

$$
\frac{\partial x^\star}{\partial\theta} = -\big(\partial_x F\big)^{-1}\,\partial_\theta F ,
$$

so a reverse-mode cotangent $v$ on $x^\star$ is pulled back by one linear solve,

$$
(\partial_x F)^\top \lambda = v, \qquad \bar\theta = -\lambda^\top\,\partial_\theta F ,
$$

whatever the solver did in its forward pass: the backward pass stores only $x^\star$ and
$\theta$, never the solver's iterates, so its memory does not grow with the iteration count.
A fixed point $x = T(x, \theta)$ is the root of $F = T - x$.

The transposed system is solved by a lineax solver object: densely (``lineax.LU()``, on the
materialised Jacobian) or matrix-free (CG, GMRES, BiCGStab or CG on the normal equations; each
matrix-vector product is one VJP of $F$). Reverse mode only (the wrapper is a ``jax.custom_vjp``).

References:
    M. Blondel, Q. Berthet, M. Cuturi, R. Frostig, S. Hoyer, F. Llinares-López,
    F. Pedregosa, J.-P. Vert, "Efficient and modular implicit differentiation", NeurIPS 2022.
    S. G. Krantz, H. R. Parks, "The Implicit Function Theorem", Birkhäuser (2002).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import PyTree

from .._errors import InvalidInputError
from ._failure import check_on_failure, report_failure

def _check_linear_solver(linear_solver, tags) -> tuple:
    """Validate a lineax solver and its operator tags; returns the tags as a tuple."""
    if not isinstance(linear_solver, lx.AbstractLinearSolver):
        raise InvalidInputError(
            f"linear_solver must be a lineax solver (e.g. lineax.LU(), lineax.GMRES(rtol, atol)), got {linear_solver!r}"
        )
    tags = tuple(tags) if isinstance(tags, (tuple, list, frozenset, set)) else (tags,)
    semidefinite = {lx.positive_semidefinite_tag, lx.negative_semidefinite_tag}
    if isinstance(linear_solver, lx.CG) and not semidefinite & set(tags):
        raise InvalidInputError(
            "linear_solver=lineax.CG needs tags=(lineax.symmetric_tag, lineax.positive_semidefinite_tag) "
            "(declare the Jacobian of the optimality function symmetric positive semidefinite), "
            "or use lineax.Normal(lineax.CG(...)) for a general matrix"
        )
    return tags


class _Config(eqx.Module):
    solver: lx.AbstractLinearSolver
    tags: tuple = eqx.field(static=True)
    has_aux: bool = eqx.field(static=True)
    on_failure: str = eqx.field(static=True)


def _adjoint_solve(optimality_fn, x, args, cotangent, config: _Config):
    """Solve $(\\partial_x F)^\\top\\lambda = v$ at the solution ``x``."""
    _, vjp_x = jax.vjp(lambda y: optimality_fn(y, *args), x)
    out_structure = jax.eval_shape(lambda y: optimality_fn(y, *args), x)
    operator = lx.FunctionLinearOperator(lambda u: vjp_x(u)[0], out_structure, tags=config.tags)
    solution = lx.linear_solve(operator, cotangent, config.solver, throw=False)
    converged = solution.result == lx.RESULTS.successful
    lam = report_failure(
        solution.value,
        converged,
        config.on_failure,
        "implicit differentiation: the backward linear solve did not converge; "
        "the gradient would be wrong (try linear_solver=lineax.LU() or a larger max_steps)",
    )
    return lam


def _zero_cotangent(leaf):
    leaf = jnp.asarray(leaf)
    if jnp.issubdtype(leaf.dtype, jnp.inexact):
        return jnp.zeros_like(leaf)
    return np.zeros(leaf.shape, dtype=jax.dtypes.float0)


def _implicit_call(solver, optimality_fn, config: _Config, init_x, args):
    # Every array (floating or not) goes through the custom_vjp as an argument, so nothing
    # traced (e.g. under vmap) is closed over; only non-array leaves stay static.
    dynamic, static = eqx.partition(args, eqx.is_array)
    # Which arrays are differentiable, decided on the primal inputs (residuals may come back as
    # other array-likes, e.g. a Python float input is saved as a typed scalar).
    inexact = jax.tree.map(lambda leaf: bool(jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)), dynamic)

    @jax.custom_vjp
    def run(init_x, dynamic):
        return solver(init_x, *eqx.combine(dynamic, static))

    def run_fwd(init_x, dynamic):
        out = solver(init_x, *eqx.combine(dynamic, static))
        x = out[0] if config.has_aux else out
        return out, (x, dynamic, init_x)

    def run_bwd(residuals, cotangent):
        x, dyn, x0 = residuals
        v = cotangent[0] if config.has_aux else cotangent
        lam = _adjoint_solve(optimality_fn, x, eqx.combine(dyn, static), v, config)
        dyn = jax.tree.map(jnp.asarray, dyn)
        diff, nondiff = eqx.partition(dyn, inexact)
        _, vjp_args = jax.vjp(lambda d: optimality_fn(x, *eqx.combine(d, nondiff, static)), diff)
        (grad_diff,) = vjp_args(jax.tree.map(jnp.negative, lam))
        grad_dynamic = jax.tree.map(
            lambda g, leaf: g if g is not None or leaf is None else _zero_cotangent(leaf),
            grad_diff, dyn, is_leaf=lambda node: node is None,
        )
        return jax.tree.map(_zero_cotangent, x0), grad_dynamic

    run.defvjp(run_fwd, run_bwd)
    return run(init_x, dynamic)


def custom_root(
    optimality_fn: Callable[..., PyTree],
    *,
    linear_solver: lx.AbstractLinearSolver = lx.LU(),
    tags: Any = (),
    has_aux: bool = False,
    on_failure: str = "raise",
) -> Callable[[Callable], Callable]:
    r"""Decorator attaching implicit-function-theorem gradients to a root solver.

    ``solver(init_x, *args) -> x`` (or ``(x, aux)`` with ``has_aux=True``) must return a root of
    ``optimality_fn(x, *args)``. The decorated solver has the same signature; its reverse-mode
    derivative with respect to every floating-point array in ``args`` is
    $\bar\theta = -\lambda^\top\partial_\theta F$ with $(\partial_x F)^\top\lambda = \bar x$,
    and ``init_x`` gets a zero cotangent. ``aux`` is returned as is (not differentiated).

    Anything to be differentiated must be passed through ``args`` (arrays inside pytrees and
    Equinox modules are found); values the solver closes over are treated as constants.

    **Arguments:**

    - `optimality_fn`: $F(x, *args)$, returning a pytree shaped like ``x``.
    - `linear_solver`: the lineax solver of the backward system (default ``lineax.LU()``, dense
      LU of the materialised Jacobian). Matrix-free: ``lineax.GMRES(rtol, atol)``,
      ``lineax.BiCGStab(rtol, atol)``, ``lineax.Normal(lineax.CG(rtol, atol))`` (CG on the normal
      equations; any invertible $\partial_x F$), or ``lineax.CG(rtol, atol)`` with `tags`
      declaring $\partial_x F$ symmetric positive semidefinite (e.g. the Hessian of a convex
      objective). Each matrix-vector product is one VJP of $F$.
    - `tags`: lineax operator tags of $(\partial_x F)^\top$ (a tag or a tuple of them; CG needs
      ``(lineax.symmetric_tag, lineax.positive_semidefinite_tag)``).
    - `has_aux`: the solver returns ``(x, aux)``.
    - `on_failure`: what a non-converged backward linear solve does: ``"raise"`` (default),
      ``"warn"`` (:class:`ConvergenceWarning`) or ``"ignore"``.

    Example::

        def optimality(w, lam, X, y):            # gradient of the ridge objective
            return X.T @ (X @ w - y) + lam * w

        @custom_root(optimality)
        def ridge(w0, lam, X, y):
            return jnp.linalg.solve(X.T @ X + lam * jnp.eye(X.shape[1]), X.T @ y)

        jax.grad(lambda lam: ridge(None, lam, X, y).sum())(1.0)
    """
    tags = _check_linear_solver(linear_solver, tags)
    config = _Config(linear_solver, tags, bool(has_aux), check_on_failure(on_failure))

    def decorator(solve: Callable) -> Callable:
        @functools.wraps(solve)
        def wrapped(init_x, *args):
            return _implicit_call(solve, optimality_fn, config, init_x, args)

        return wrapped

    return decorator


def custom_fixed_point(
    fixed_point_fn: Callable[..., PyTree],
    **options: Any,
) -> Callable[[Callable], Callable]:
    r"""Decorator attaching implicit gradients to a fixed-point solver.

    ``solver(init_x, *args)`` must return $x^\star = T(x^\star, *args)$ for
    ``fixed_point_fn`` $= T$. This is :func:`custom_root` with $F(x, \theta) = T(x, \theta) - x$,
    so the backward pass solves $(\partial_x T - I)^\top\lambda = \bar x$. ``options`` are those
    of :func:`custom_root` (``linear_solver`` defaults to ``lineax.LU()``; ``lineax.GMRES`` or
    ``lineax.BiCGStab`` suit large non-symmetric problems).
    """

    def optimality(x, *args):
        return jax.tree.map(jnp.subtract, fixed_point_fn(x, *args), x)

    return custom_root(optimality, **options)
