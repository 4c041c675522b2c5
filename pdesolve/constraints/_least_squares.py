r"""PDE-constrained least-squares layer: solve for basis coefficients, differentiate implicitly.

A network emits $N$ basis functions $b_1, \dots, b_N$ (their values and derivatives at $m$
collocation points, the *features*). The layer finds coefficients $\omega\in\mathbb{R}^N$ such
that the field $u = \sum_j \omega_j b_j$ satisfies the PDE and its initial/boundary conditions
at those points, i.e. the residual $r(\omega; \text{features})\in\mathbb{R}^m$ vanishes:

$$
\omega^\star = \operatorname*{arg\,min}_\omega\ \|r(\omega)\|_2^2 + \mu\|\omega\|_2^2 ,
$$

solved by a least-squares solver object from :mod:`pdesolve.optim` (Levenberg-Marquardt by
default, or Gauss-Newton; run by :func:`~pdesolve.optim.least_squares_solve`). With $m = N$ and $\mu = 0$ the problem is a
square root-finding problem $r(\omega^\star) = 0$ (the constraint holds exactly at the
collocation points) and the optimality function is $F = r$; otherwise it is the normal
equation $F = J^\top r + \mu\omega$. Gradients with respect to the features (hence the
network) come from the implicit function theorem (:func:`custom_root`), with a dense LU solve
of the $N\times N$ system: no memory per solver iteration.

References:
    G. Négiar, M. W. Mahoney, A. S. Krishnapriyan, "Learning differentiable solvers for
    systems with hard constraints", ICLR 2023.
    N. Chalapathi, Y. Du, A. S. Krishnapriyan, "Scaling physics-informed hard constraints with
    mixture-of-experts", ICLR 2024.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Bool, Float, PyTree

from .._errors import InvalidInputError
from ..optim import least_squares_solve, levenberg_marquardt
from ._failure import check_on_failure, report_failure
from ._implicit import custom_root


class ConstraintSolution(NamedTuple):
    """Output of :class:`LeastSquaresConstraint` (leading expert axis for a mixture).

    Attributes:
        coefficients: the solved $\\omega$, shaped ``(N,)``.
        residual_norm: $\\|r(\\omega)\\|_2$ at the collocation points.
        optimality_norm: $\\max|F(\\omega)|$ of the optimality function (the convergence test).
        converged: whether the solve passed its layer's convergence test. For this layer:
            ``optimality_norm <= tolerance``; for a least-squares problem (not square) also
            when every column $J_j$ of the Jacobian is within ``tolerance`` of orthogonal to the
            residual, $\\max_j |J_j^\\top r| / (\\|J_j\\|\\,\\|r\\|) \\le$ ``tolerance`` (MINPACK's
            ``gtol`` test): with a nonzero residual at the solution, the absolute size of
            $J^\\top r$ scales with $\\|J\\|\\,\\|r\\|$ and stalls above a fixed tolerance.
    """

    coefficients: Float[Array, " n"]
    residual_norm: Float[Array, ""]
    optimality_norm: Float[Array, ""]
    converged: Bool[Array, ""]


def _flat(tree) -> Array:
    return ravel_pytree(tree)[0]


def check_solve_settings(num_coefficients, num_steps, tolerance) -> None:
    """Raise :class:`~pdesolve.InvalidInputError` for settings no constraint solve can use."""
    if not isinstance(num_coefficients, int) or num_coefficients < 1:
        raise InvalidInputError(f"num_coefficients must be a positive integer, got {num_coefficients!r}")
    if not isinstance(num_steps, int) or num_steps < 1:
        raise InvalidInputError(f"num_steps must be a positive integer, got {num_steps!r}")
    if not tolerance > 0:
        raise InvalidInputError(f"tolerance must be > 0, got {tolerance!r}")


def check_solver(solver, default: Callable[[], optax.GradientTransformation]) -> optax.GradientTransformation:
    """The least-squares solver object (``default()`` for ``None``); an error for anything but an optax transform."""
    if solver is None:
        return default()
    if not isinstance(solver, optax.GradientTransformation):
        raise InvalidInputError(
            f"solver must be a least-squares solver object (e.g. pdesolve.optim.levenberg_marquardt()), got {solver!r}"
        )
    return solver


class LeastSquaresConstraint(eqx.Module):
    r"""Solve $r(\omega; \text{features}) = 0$ (or its least-squares problem) with implicit gradients.

    **Arguments:**

    - `residual_fn`: ``(coefficients, features) -> residuals`` (any pytree of arrays; flattened).
      ``features`` is whatever the network produced (basis values/derivatives at the points,
      problem data); every floating array in it is differentiated implicitly.
    - `num_coefficients`: $N$.
    - `num_steps`: solver iterations (fixed; the loop is a ``lax.fori_loop``).
    - `solver`: the forward least-squares solver, an optax transform of :mod:`pdesolve.optim`
      run by :func:`~pdesolve.optim.least_squares_solve`: ``levenberg_marquardt()`` (default) or
      ``gauss_newton()`` (e.g. with ``max_backtracking_steps``).
    - `tolerance`: convergence threshold on $\max|F(\omega)|$ (default ``1e-10``); least-squares
      problems also pass when the residual is this close to orthogonal to every Jacobian column.
    - `regularisation`: $\mu \ge 0$ (Tikhonov term; makes under-determined problems unique).
    - `linear_solver`: backward lineax solver of :func:`custom_root` (default ``lineax.LU()``).
    - `on_failure`: ``"raise"``, ``"warn"`` or ``"ignore"`` when the forward solve misses
      the tolerance (the ``converged`` flag is returned in every case).
    """

    residual_fn: Callable = eqx.field(static=True)
    num_coefficients: int = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    solver: optax.GradientTransformation = eqx.field(static=True)
    tolerance: float = eqx.field(static=True)
    regularisation: float = eqx.field(static=True)
    linear_solver: lx.AbstractLinearSolver = eqx.field(static=True)
    on_failure: str = eqx.field(static=True)

    def __init__(
        self,
        residual_fn: Callable,
        num_coefficients: int,
        *,
        num_steps: int = 30,
        solver: optax.GradientTransformation | None = None,
        tolerance: float = 1e-10,
        regularisation: float = 0.0,
        linear_solver: lx.AbstractLinearSolver = lx.LU(),
        on_failure: str = "warn",
    ):
        check_solve_settings(num_coefficients, num_steps, tolerance)
        if not regularisation >= 0:
            raise InvalidInputError(f"regularisation must be >= 0, got {regularisation!r}")
        self.residual_fn = residual_fn
        self.num_coefficients = num_coefficients
        self.num_steps = num_steps
        self.solver = check_solver(solver, levenberg_marquardt)
        self.tolerance = float(tolerance)
        self.regularisation = float(regularisation)
        self.linear_solver = linear_solver
        self.on_failure = check_on_failure(on_failure)

    def residual(self, coefficients: Float[Array, " n"], features: PyTree) -> Float[Array, " m"]:
        """Flattened residual $r(\\omega)$ (with $\\sqrt\\mu\\,\\omega$ appended if $\\mu > 0$)."""
        r = _flat(self.residual_fn(coefficients, features))
        if self.regularisation > 0:
            r = jnp.concatenate([r, jnp.sqrt(self.regularisation) * coefficients])
        return r

    def is_square(self, features: PyTree) -> bool:
        """Whether $m = N$ and $\\mu = 0$, so the constraint can hold exactly (root problem)."""
        w = jnp.zeros(self.num_coefficients, _flat(features).dtype)
        m = jax.eval_shape(self.residual, w, features).shape[0]
        return m == self.num_coefficients

    def optimality(self, coefficients, features):
        """$F(\\omega)$: the residual itself (square case) or the normal-equation gradient."""
        if self.is_square(features):
            return self.residual(coefficients, features)
        return jax.grad(lambda w: 0.5 * jnp.sum(self.residual(w, features) ** 2))(coefficients)

    def __call__(self, features: PyTree, init: Float[Array, " n"] | None = None) -> ConstraintSolution:
        dtype = _flat(features).dtype
        if init is None:
            init = jnp.zeros(self.num_coefficients, dtype)
        elif init.shape != (self.num_coefficients,):
            raise InvalidInputError(f"init must have shape ({self.num_coefficients},), got {init.shape}")
        @custom_root(self.optimality, linear_solver=self.linear_solver, on_failure=self.on_failure)
        def solve(w0, feats):
            w, _ = least_squares_solve(lambda w: self.residual(w, feats), w0, self.num_steps, self.solver)
            return w

        w = solve(init, features)
        fixed = jax.lax.stop_gradient((w, features))
        residual_norm = jnp.linalg.norm(self.residual(*fixed))
        optimality = self.optimality(*fixed)
        optimality_norm = jnp.max(jnp.abs(optimality))
        converged = optimality_norm <= self.tolerance
        if not self.is_square(features):
            column_norms = jnp.linalg.norm(jax.jacfwd(self.residual)(*fixed), axis=0)
            cosine = jnp.abs(optimality) / jnp.maximum(column_norms * residual_norm, jnp.finfo(w.dtype).tiny)
            converged = converged | (jnp.max(cosine) <= self.tolerance)
        w = report_failure(
            w, converged, self.on_failure,
            f"LeastSquaresConstraint: the inner solve did not reach max|F| <= {self.tolerance:g} "
            f"(least squares: or a residual within {self.tolerance:g} of orthogonal to the Jacobian's columns) "
            f"in {self.num_steps} steps; its implicit gradient is not valid",
        )
        return ConstraintSolution(w, residual_norm, optimality_norm, converged)
