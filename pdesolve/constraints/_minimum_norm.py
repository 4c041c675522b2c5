r"""Under-determined hard constraints: a root on the solution manifold, with implicit gradients.

With more basis functions than collocation points ($N > m$) the constraint $r(\omega) = 0$
has a manifold of solutions. Two layers pick one, each with its own forward solver and its own
gradient rule.

:class:`MinimumNormConstraint` picks the root closest to an anchor
$a$ (the origin by default, so the minimum-norm solution),

$$
\omega^\star = \operatorname*{arg\,min}_\omega\ \tfrac12\|\omega - a\|_2^2
\quad\text{subject to}\quad r(\omega; \text{features}) = 0 ,
$$

so the constraint holds *exactly* (to round-off) at the $m$ points, unlike a Tikhonov-damped
least-squares solve, whose residual is $O(\mu)$. For a linear residual $r = A\omega - b$ this is
$\omega^\star = A^+ b$: the kernel interpolant of the constraints in the feature space of the
basis network.

**Forward pass.** Minimum-norm Gauss-Newton from $\omega_0 = a$: linearise $r$ at $\omega_k$
and take the solution of the linearised constraint closest to $a$,

$$
\omega_{k+1} = a + J_k^+\,(J_k(\omega_k - a) - r(\omega_k))
= \omega_k - J_k^+ r(\omega_k) - (I - J_k^+J_k)(\omega_k - a) ,
$$

i.e. the Gauss-Newton step of :mod:`pdesolve.optim` (SVD pseudo-inverse) plus removal of the
null-space component of $\omega_k - a$ (the first step is a plain Gauss-Newton step). One step
is exact for a linear residual; for a nonlinear one its fixed points satisfy $r = 0$ and
$\omega - a\in\operatorname{range}(J^\top)$, the first-order conditions. A nonlinear problem
converges fastest from an anchor near the solution manifold (e.g. the solution of a linearised
problem).

**Backward pass.** The Lagrange conditions of the problem,

$$
F(\omega, \lambda) = \begin{pmatrix} \omega - a + J(\omega)^\top\lambda \\ r(\omega) \end{pmatrix} = 0,
\qquad \lambda = -(J^\top)^+(\omega - a) ,
$$

are the optimality function of :func:`custom_root` (gradients flow to the features and to
$a$): the adjoint solve is one dense LU of the
$(N + m)$-square KKT matrix $\begin{pmatrix} I + \sum_i\lambda_i\nabla^2 r_i & J^\top \\ J & 0\end{pmatrix}$,
invertible when $J$ has full row rank.

**Strongly nonlinear residuals** (:class:`TangentConstraint`). The iteration above ignores the
curvature term $\sum_i\lambda_i\nabla^2 r_i$ and can stall far from the manifold. Then a
least-squares solver object (Levenberg-Marquardt, or line-searched minimum-norm Gauss-Newton,
from :mod:`pdesolve.optim`) runs from the starting point to a root $\omega^\star$, and the
anchor is taken to be $\omega^\star$ itself (frozen): $\lambda = 0$ and the adjoint system gives
the minimum-norm tangent $d\omega^\star = -J^+\,\partial_\theta r\,d\theta$, the derivative of
the projection onto the solution manifold at the returned point (the solution a warm-started
solver follows).

References:
    A. Ben-Israel, "A Newton-Raphson method for the solution of systems of equations",
    J. Math. Anal. Appl. 15 (1966) (the pseudo-inverse Newton iteration).
    N. Chalapathi, Y. Du, A. S. Krishnapriyan, "Scaling physics-informed hard constraints with
    mixture-of-experts", ICLR 2024 (the hard-constraint layer this serves).
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, PyTree

from .._errors import InvalidInputError
from ..linalg import damped_lstsq, dense_jacobian
from ..optim import least_squares_solve, levenberg_marquardt
from ._failure import check_on_failure, report_failure
from ._implicit import custom_root
from ._least_squares import ConstraintSolution, check_solve_settings, check_solver


def _relative_null_space_part(jacobian: Float[Array, "m n"], offset: Float[Array, " n"]) -> Float[Array, ""]:
    r"""$\max|(I - J^+J)\,d| / \max(1, \max|d|)$: how far $d$ is from $\operatorname{range}(J^\top)$,
    with the projector built from the right singular vectors of the numerically non-zero singular values."""
    _, s, vt = jnp.linalg.svd(jacobian, full_matrices=False)
    cutoff = jnp.finfo(jacobian.dtype).eps * max(jacobian.shape) * s[0]
    vt = jnp.where((s > cutoff)[:, None], vt, 0.0)
    null_part = offset - vt.T @ (vt @ offset)
    return jnp.max(jnp.abs(null_part)) / jnp.maximum(1.0, jnp.max(jnp.abs(offset)))


class AbstractRootConstraint(eqx.Module):
    r"""A layer returning a root of an under-determined $r(\omega; \text{features}) = 0$ ($m \le N$),
    differentiated implicitly through the Lagrange conditions of $\min\tfrac12\|\omega - a\|^2$
    subject to $r = 0$ (:meth:`optimality`). Subclasses choose the forward solver and the anchor.

    Calling a layer with ``features`` and optionally ``init`` (shape ``(N,)``; default zeros)
    returns a :class:`ConstraintSolution`.
    """

    residual_fn: eqx.AbstractVar[Callable]
    num_coefficients: eqx.AbstractVar[int]
    num_steps: eqx.AbstractVar[int]
    tolerance: eqx.AbstractVar[float]
    linear_solver: eqx.AbstractVar[lx.AbstractLinearSolver]
    on_failure: eqx.AbstractVar[str]

    def residual(self, coefficients: Float[Array, " n"], features: PyTree) -> Float[Array, " m"]:
        """Flattened constraint residual $r(\\omega)$."""
        return ravel_pytree(self.residual_fn(coefficients, features))[0]

    def _num_residuals(self, features: PyTree) -> int:
        w = jax.ShapeDtypeStruct((self.num_coefficients,), ravel_pytree(features)[0].dtype)
        return jax.eval_shape(self.residual, w, features).shape[0]

    def optimality(self, primal: tuple[Array, Array], features: PyTree, anchor: Array) -> tuple[Array, Array]:
        """Lagrange conditions $(\\omega - a + J^\\top\\lambda,\\ r(\\omega))$ of the problem."""
        w, lam = primal
        r, vjp = jax.vjp(lambda c: self.residual(c, features), w)
        return w - anchor + vjp(lam)[0], r

    def _checked(self, features: PyTree, init) -> tuple:
        """``(dtype, m, init)``: an error for an over-determined system or a badly shaped ``init``."""
        dtype = ravel_pytree(features)[0].dtype
        m = self._num_residuals(features)
        if m > self.num_coefficients:
            raise InvalidInputError(
                f"{type(self).__name__} needs at most as many residuals as coefficients, got m={m} > "
                f"N={self.num_coefficients} (use LeastSquaresConstraint for over-determined problems)"
            )
        if init is None:
            init = jnp.zeros(self.num_coefficients, dtype)
        elif init.shape != (self.num_coefficients,):
            raise InvalidInputError(f"init must have shape ({self.num_coefficients},), got {init.shape}")
        return dtype, m, init

    def _solution(self, w, lam, features, anchor, stationarity: bool, message: str) -> ConstraintSolution:
        """The convergence test (residual, and with `stationarity` the relative null-space part of
        $\\omega - a$) and the failure policy."""
        m = lam.shape[0]
        (w_fixed, _), feats_fixed, anchor = jax.lax.stop_gradient(((w, lam), features, anchor))
        residual = self.residual(w_fixed, feats_fixed)
        residual_norm = jnp.linalg.norm(residual)
        optimality_norm = jnp.max(jnp.abs(residual))
        if stationarity:
            jac = dense_jacobian(lambda c: self.residual(c, feats_fixed), w_fixed, m)
            optimality_norm = jnp.maximum(optimality_norm, _relative_null_space_part(jac, w_fixed - anchor))
        converged = optimality_norm <= self.tolerance
        w = report_failure(w, converged, self.on_failure, message)
        return ConstraintSolution(w, residual_norm, optimality_norm, converged)

    @abc.abstractmethod
    def __call__(self, features: PyTree, init: Float[Array, " n"] | None = None) -> ConstraintSolution:
        """Solve for the coefficients."""


class MinimumNormConstraint(AbstractRootConstraint):
    r"""The root closest to the anchor $a$ (minimum norm for $a = 0$), exact Lagrange-condition gradients.

    Forward pass: ``num_steps`` anchored minimum-norm Gauss-Newton steps from $a$, optionally
    followed by Newton steps on the Lagrange conditions; backward pass: the KKT system (module
    docstring). Calling it with ``features`` and optionally the anchor $a$ (``init``; default zeros,
    the minimum-norm solution) returns a :class:`ConstraintSolution`.

    **Arguments:**

    - `residual_fn`: ``(coefficients, features) -> residuals`` (any pytree; flattened to $m$
      values, $m \le N$). Every floating array in ``features`` is differentiated implicitly.
    - `num_coefficients`: $N$.
    - `num_steps`: minimum-norm Gauss-Newton iterations (a fixed ``lax.fori_loop``; one is
      exact for a linear residual).
    - `tolerance`: convergence threshold on ``optimality_norm`` (below; default ``1e-9``).
    - `newton_steps`: after the ``num_steps`` Gauss-Newton iterations, this many Newton steps on
      the Lagrange conditions themselves (the full KKT matrix, curvature term
      $\sum_i\lambda_i\nabla^2 r_i$ included, one dense LU each; default 0). The Gauss-Newton
      iteration leaves out that term and reaches stationarity only linearly; Newton converges
      quadratically near the solution. A Newton step is kept only if it lowers ``optimality_norm``.
    - `linear_solver`: backward lineax solver of :func:`custom_root` (default ``lineax.LU()``).
    - `on_failure`: ``"raise"``, ``"warn"`` or ``"ignore"`` when the forward solve misses
      the tolerance (the ``converged`` flag is returned in every case).

    The solution's ``optimality_norm`` (the convergence test against ``tolerance``) is the larger
    of the constraint residual $\max|r(\omega)|$ and the stationarity error
    $\max|(I - J^+J)(\omega - a)| / \max(1, \max|\omega - a|)$: the part of
    $\omega - a$ outside $\operatorname{range}(J^\top)$, computed with the orthogonal projector
    of $J$'s SVD and relative to the size of $\omega - a$. (The first Lagrange condition
    $\omega - a + J^\top\lambda$ evaluated with $\lambda = -(J^\top)^+(\omega - a)$ carries a
    round-off error of order $\varepsilon\,\kappa(J)\,|\omega - a|$, which reads as a failure at
    condition numbers ~1e12 even for the exact pseudo-inverse solution of a linear system.)
    """

    residual_fn: Callable = eqx.field(static=True)
    num_coefficients: int = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    tolerance: float = eqx.field(static=True)
    linear_solver: lx.AbstractLinearSolver = eqx.field(static=True)
    on_failure: str = eqx.field(static=True)
    newton_steps: int = eqx.field(static=True)

    def __init__(
        self,
        residual_fn: Callable,
        num_coefficients: int,
        *,
        num_steps: int = 10,
        tolerance: float = 1e-9,
        newton_steps: int = 0,
        linear_solver: lx.AbstractLinearSolver = lx.LU(),
        on_failure: str = "warn",
    ):
        check_solve_settings(num_coefficients, num_steps, tolerance)
        if isinstance(newton_steps, bool) or not isinstance(newton_steps, int) or newton_steps < 0:
            raise InvalidInputError(f"newton_steps must be a non-negative integer, got {newton_steps!r}")
        self.residual_fn = residual_fn
        self.num_coefficients = num_coefficients
        self.num_steps = num_steps
        self.tolerance = float(tolerance)
        self.newton_steps = newton_steps
        self.linear_solver = linear_solver
        self.on_failure = check_on_failure(on_failure)

    def _newton(self, w: Array, lam: Array, features: PyTree, anchor: Array) -> tuple[Array, Array]:
        """``newton_steps`` safeguarded Newton steps on the Lagrange conditions from (w, lambda)."""
        n = w.shape[0]

        def lagrange(z):
            stationarity, r = self.optimality((z[:n], z[n:]), features, anchor)
            return jnp.concatenate([stationarity, r])

        def merit(z, f):  # the convergence test's measure (not |omega - a + J^T lambda|, which is round-off
            # bound at ~eps cond(J) |omega - a|)
            jac = dense_jacobian(lambda c: self.residual(c, features), z[:n], f.shape[0] - n)
            return jnp.maximum(jnp.max(jnp.abs(f[n:])), _relative_null_space_part(jac, z[:n] - anchor))

        def step(_, carry):  # carry: the current point and its merit (computed once per accepted point)
            z, current = carry
            trial = z - jnp.linalg.solve(jax.jacfwd(lagrange)(z), lagrange(z))
            f_trial = lagrange(trial)
            trial_merit = merit(trial, f_trial)
            better = jnp.all(jnp.isfinite(f_trial)) & (trial_merit < current)
            return jnp.where(better, trial, z), jnp.where(better, trial_merit, current)

        z = jnp.concatenate([w, lam])
        z, _ = jax.lax.fori_loop(0, self.newton_steps, step, (z, merit(z, lagrange(z))))
        return z[:n], z[n:]

    def __call__(self, features: PyTree, init: Float[Array, " n"] | None = None) -> ConstraintSolution:
        dtype, m, init = self._checked(features, init)

        @custom_root(self.optimality, linear_solver=self.linear_solver, on_failure=self.on_failure)
        def solve(primal0, feats, anchor):
            def fn(c):
                return self.residual(c, feats)

            def body(_, w):
                jac = dense_jacobian(fn, w, m)
                return anchor + damped_lstsq(jac, jac @ (w - anchor) - fn(w))

            w = jax.lax.fori_loop(0, self.num_steps, body, primal0[0])
            jac = dense_jacobian(fn, w, m)
            lam = -damped_lstsq(jac.T, w - anchor)
            if self.newton_steps:
                w, lam = self._newton(w, lam, feats, anchor)
            return w, lam

        w, lam = solve((init, jnp.zeros(m, dtype)), features, init)
        return self._solution(
            w, lam, features, init, True,
            f"MinimumNormConstraint: the inner solve did not reach max|r| and the relative "
            f"stationarity error <= {self.tolerance:g} in {self.num_steps} steps; its implicit gradient is not valid",
        )


class TangentConstraint(AbstractRootConstraint):
    r"""A root reached by a least-squares solver from ``init``, with minimum-norm tangent gradients.

    Forward pass: ``num_steps`` steps of `solver` on $\tfrac12\|r(\omega)\|^2$ from ``init``
    (:func:`pdesolve.optim.least_squares_solve`, features held constant) to a root $\omega^\star$.
    Backward pass: the Lagrange conditions anchored at $\omega^\star$ itself ($\lambda = 0$), so
    $d\omega^\star = -J^+\,\partial_\theta r\,d\theta$, the derivative of the projection onto
    the solution manifold at $\omega^\star$. For residuals too nonlinear for
    :class:`MinimumNormConstraint`'s anchored iteration; a good ``init`` (e.g. the solution of a
    linearised problem) matters.

    **Arguments:**

    - `residual_fn`, `num_coefficients`: as :class:`MinimumNormConstraint`.
    - `num_steps`: iterations of `solver`.
    - `solver`: the forward least-squares solver, an optax transform of :mod:`pdesolve.optim`:
      ``levenberg_marquardt(initial_damping=1.0)`` (default; robust far from the manifold) or
      ``gauss_newton(max_backtracking_steps=k)`` (minimum-norm Gauss-Newton steps with a
      backtracking line search; converges quadratically near the manifold even where the
      Jacobian's small singular values would be filtered out by a damping).
    - `tolerance`: convergence threshold on $\max|r(\omega^\star)|$ (default ``1e-9``).
    - `linear_solver`, `on_failure`: as :class:`MinimumNormConstraint`.
    """

    residual_fn: Callable = eqx.field(static=True)
    num_coefficients: int = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    tolerance: float = eqx.field(static=True)
    linear_solver: lx.AbstractLinearSolver = eqx.field(static=True)
    on_failure: str = eqx.field(static=True)
    solver: optax.GradientTransformation = eqx.field(static=True)

    def __init__(
        self,
        residual_fn: Callable,
        num_coefficients: int,
        *,
        num_steps: int = 10,
        solver: optax.GradientTransformation | None = None,
        tolerance: float = 1e-9,
        linear_solver: lx.AbstractLinearSolver = lx.LU(),
        on_failure: str = "warn",
    ):
        check_solve_settings(num_coefficients, num_steps, tolerance)
        self.residual_fn = residual_fn
        self.num_coefficients = num_coefficients
        self.num_steps = num_steps
        self.solver = check_solver(solver, lambda: levenberg_marquardt(initial_damping=1.0))
        self.tolerance = float(tolerance)
        self.linear_solver = linear_solver
        self.on_failure = check_on_failure(on_failure)

    def __call__(self, features: PyTree, init: Float[Array, " n"] | None = None) -> ConstraintSolution:
        dtype, m, init = self._checked(features, init)

        @custom_root(self.optimality, linear_solver=self.linear_solver, on_failure=self.on_failure)
        def solve(primal0, feats, anchor):  # the root was found outside; anchor = root, lambda = 0
            return anchor, jnp.zeros(m, dtype)

        frozen = jax.lax.stop_gradient(features)
        root, _ = least_squares_solve(lambda c: self.residual(c, frozen), jax.lax.stop_gradient(init),
                                      self.num_steps, self.solver)
        root = jax.lax.stop_gradient(root)
        w, lam = solve((root, jnp.zeros(m, dtype)), features, root)
        return self._solution(
            w, lam, features, root, False,
            f"TangentConstraint: the inner solve did not reach max|r| <= {self.tolerance:g} in {self.num_steps} "
            "steps; its implicit gradient is not valid",
        )
