r"""Gauss-Newton and Levenberg-Marquardt steps for nonlinear least squares.

For a residual map $r:\mathbb{R}^n\to\mathbb{R}^m$ (any pytree of residual arrays, flattened)
and the cost $F(\theta) = \|r(\theta)\|_2^2$, the damped Gauss-Newton step is

$$
\Delta\theta = \operatorname*{arg\,min}_{\delta}\ \|J\delta + r\|_2^2 + \lambda\|\delta\|_2^2
             = -(J^\top J + \lambda I)^{-1} J^\top r,
\qquad J = \partial r/\partial\theta ,
$$

with the minimum-norm solution $-J^+ r$ when $\lambda = 0$ and $J$ is rank deficient.
$\lambda = 0$ is Gauss-Newton, $\lambda > 0$ fixed is Levenberg's damped step, and
:func:`levenberg_marquardt` adapts $\lambda$ from the gain ratio of each trial step.

Two linear solvers are provided:

- ``"dense"``: $J$ is materialised (``jax.jacfwd`` when $n \le m$, ``jax.jacrev`` otherwise)
  and the step is read off its thin SVD $J = U\Sigma V^\top$ as
  $\Delta\theta = -V\,\mathrm{diag}\big(\sigma_k/(\sigma_k^2+\lambda)\big)U^\top r$, which is
  the least-squares solution of the augmented system $[J;\sqrt\lambda I]\,\delta \approx [-r; 0]$
  (singular values below ``eps * max(m, n) * sigma_max`` are dropped, as in
  ``jnp.linalg.lstsq``). Cost $O(mn\min(m,n))$; use for up to a few thousand parameters.
- ``"cg"``: matrix-free conjugate gradients (Hestenes & Stiefel 1952, via ``lineax.CG``) on the
  normal equations $(J^\top J + \lambda I)\delta = -J^\top r$, with $v\mapsto J^\top(Jv)$ applied
  through one linearisation (``jax.linearize``) and its transpose. Each CG iteration costs one
  JVP and one VJP; nothing of size $m\times n$ is stored.

References:
    K. Levenberg, "A method for the solution of certain non-linear problems in least
    squares", Quart. Appl. Math. 2 (1944) 164-168.
    D. W. Marquardt, "An algorithm for least-squares estimation of nonlinear parameters",
    SIAM J. Appl. Math. 11 (1963) 431-441.
    K. Madsen, H. B. Nielsen, O. Tingleff, "Methods for non-linear least squares problems",
    IMM, DTU (2004), section 3.2 (gain ratio).
    M. K. Transtrum, J. P. Sethna, "Improvements to the Levenberg-Marquardt algorithm for
    nonlinear least-squares minimization", arXiv:1201.5885 (2012) (geodesic acceleration).
    J. Nocedal, S. J. Wright, "Numerical Optimization", 2nd ed., Springer (2006), ch. 10.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, Int, PyTree

from .._errors import InvalidInputError
from ..linalg import damped_lstsq_solver, dense_jacobian, flatten_residual_fn
from ._geodesic import GeodesicAcceleration

LinearSolver = Literal["auto", "dense", "cg"]
_SOLVERS = ("auto", "dense", "cg")


# ---------------------------------------------------------------------------------------------
# Argument checks shared by the optimizer modules
# ---------------------------------------------------------------------------------------------


def _check_solver(solver: str) -> None:
    if solver not in _SOLVERS:
        raise InvalidInputError(f"solver must be one of {_SOLVERS}, got {solver!r}")


def _check_nonnegative(name: str, value: Any) -> None:
    if isinstance(value, (int, float)) and not value >= 0:
        raise InvalidInputError(f"{name} must be a finite number >= 0, got {value!r}")


def _check_positive_int(name: str, value: Any, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    try:
        ok = not isinstance(value, bool) and operator.index(value) >= 1
    except TypeError:
        ok = False
    if not ok:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")


class _LinearisedStep(NamedTuple):
    """A (damped) Gauss-Newton step at x, with the quantities the gain ratio needs."""

    delta: Array  # flat step
    residual: Array  # r(x)
    linear_change: Array  # J @ delta
    solve: Callable[[Array], tuple[Array, Array]]  # b -> (argmin |J d - b|^2 + lam |d|^2, J d)


def _resolve_cg_tolerance(cg_rtol: float | None, dtype) -> float:
    if cg_rtol is not None:
        return cg_rtol
    return float(np.sqrt(np.finfo(dtype).eps))


def gauss_newton_direction(
    flat_residual: Callable[[Array], Array],
    x: Float[Array, " n"],
    damping: float | Array = 0.0,
    solver: LinearSolver = "auto",
    max_dense_params: int = 2000,
    cg_max_steps: int | None = None,
    cg_rtol: float | None = None,
    rcond: float | None = None,
    jacobian_fn: Callable[[Array], Array] | None = None,
) -> _LinearisedStep:
    r"""Solve $\min_\delta \|J\delta + r\|^2 + \lambda\|\delta\|^2$ at the flat point ``x``.

    ``solver="auto"`` uses the dense SVD path when ``x.size <= max_dense_params`` and matrix-free
    CG otherwise; ``rcond`` is the relative singular-value cutoff of the dense path (see
    :func:`damped_lstsq`). ``jacobian_fn(x)``, if given, supplies the dense $J$ (shape
    ``(m, n)``) instead of ``jax.jacfwd``/``jax.jacrev`` (and selects the dense path under
    ``"auto"``). Returns the step, the residual $r(x)$, the predicted change $J\delta$ and the
    same damped solve for other right-hand sides (``solve(b) -> (d, J d)``, one factorisation).
    """
    _check_solver(solver)
    if solver == "auto":
        solver = "dense" if (jacobian_fn is not None or x.size <= max_dense_params) else "cg"
    if solver == "dense":
        r = flat_residual(x)
        if jacobian_fn is None:
            jac = dense_jacobian(flat_residual, x, r.size)
        else:
            jac = jnp.asarray(jacobian_fn(x), r.dtype)
            if jac.shape != (r.size, x.size):
                raise InvalidInputError(
                    f"jacobian_fn must return shape {(r.size, x.size)} (residuals x parameters), got {jac.shape}"
                )
        lstsq = damped_lstsq_solver(jac, damping, rcond)

        def dense_solve(b):
            d = lstsq(b)
            return d, jac @ d

        delta, change = dense_solve(-r)
        return _LinearisedStep(delta, r, change, dense_solve)

    r, jvp_fn = jax.linearize(flat_residual, x)
    vjp_fn = jax.linear_transpose(jvp_fn, x)

    def normal_matvec(v):
        return vjp_fn(jvp_fn(v))[0] + damping * v

    operator = lx.FunctionLinearOperator(
        normal_matvec, jax.ShapeDtypeStruct(x.shape, x.dtype), tags=lx.positive_semidefinite_tag
    )
    rtol = _resolve_cg_tolerance(cg_rtol, x.dtype)

    def cg_solve(b):
        rhs = vjp_fn(b)[0]
        # lineax measures convergence elementwise, |res_j| <= atol + rtol |rhs_j|; an absolute
        # floor tied to max|rhs| makes this a max-norm relative test, so components with
        # rhs_j = 0 do not force CG to run to max_steps.
        atol = rtol * jnp.max(jnp.abs(rhs))
        cg = lx.CG(rtol=rtol, atol=atol, max_steps=cg_max_steps)
        d = lx.linear_solve(operator, rhs, cg, throw=False).value
        return d, jvp_fn(d)

    delta, change = cg_solve(-r)
    return _LinearisedStep(delta, r, change, cg_solve)


# ---------------------------------------------------------------------------------------------
# Gauss-Newton
# ---------------------------------------------------------------------------------------------


class GaussNewtonState(NamedTuple):
    """State of :func:`scale_by_gauss_newton`.

    Attributes:
        count: number of steps taken.
        residual_norm: $\\|r(\\theta)\\|_2$ at the parameters of the latest step (before it).
    """

    count: Int[Array, ""]
    residual_norm: Float[Array, ""]


def _norm_dtype(params: PyTree):
    flat, _ = ravel_pytree(params)
    return flat.dtype if jnp.issubdtype(flat.dtype, jnp.inexact) else jnp.float32


def _flat_jacobian_fn(jacobian_fn, unravel):
    """Adapt a user ``jacobian_fn(params) -> (m, n)`` to the flat parameter vector."""
    if jacobian_fn is None:
        return None
    return lambda x: jacobian_fn(unravel(x))


def scale_by_gauss_newton(
    damping: float = 0.0,
    solver: LinearSolver = "auto",
    max_dense_params: int = 2000,
    cg_max_steps: int | None = None,
    cg_rtol: float | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Replace the incoming updates by the (damped) Gauss-Newton step.

    ``update(updates, state, params, *, residual_fn, **extra_args)`` returns
    $\Delta\theta = -(J^\top J + \lambda I)^{+} J^\top r(\theta)$ (see the module docstring),
    already signed as a step, so ``optax.apply_updates(params, updates)`` performs it. The
    incoming ``updates`` (for example a gradient) are ignored; ``residual_fn(params)`` returns
    any pytree of residual arrays, in the way ``optax.lbfgs`` takes ``value_fn``. An optional
    extra argument ``jacobian_fn(params)`` returns the dense Jacobian of the flattened residuals
    with respect to the flattened parameters (``jax.flatten_util.ravel_pytree`` order), shape
    ``(m, n)``: for residuals that are one per collocation point, ``jax.vmap`` of a per-point
    ``jax.grad`` builds it far faster than ``jax.jacfwd`` of the whole map.

    Args:
        damping: Levenberg damping $\lambda \ge 0$ (``0`` is plain Gauss-Newton with the
            minimum-norm step).
        solver: ``"dense"`` (SVD of the materialised Jacobian), ``"cg"`` (matrix-free CG on the
            normal equations) or ``"auto"`` (dense up to ``max_dense_params`` parameters).
        max_dense_params: threshold for ``solver="auto"``.
        cg_max_steps: CG iteration cap (``None``: lineax default, ``10 n``).
        cg_rtol: CG relative tolerance (``None``: $\sqrt{\varepsilon}$ of the parameter dtype).

    Raises:
        InvalidInputError (a ``ValueError``): on a negative damping, unknown solver or a
            non-positive size/tolerance.
    """
    _check_nonnegative("damping", damping)
    _check_solver(solver)
    _check_positive_int("max_dense_params", max_dense_params, allow_none=False)
    _check_positive_int("cg_max_steps", cg_max_steps)
    if cg_rtol is not None and not cg_rtol > 0:
        raise InvalidInputError(f"cg_rtol must be > 0, got {cg_rtol!r}")

    def init_fn(params):
        dtype = _norm_dtype(params)
        return GaussNewtonState(jnp.zeros([], jnp.int32), jnp.asarray(jnp.inf, dtype))

    def update_fn(updates, state, params=None, *, residual_fn=None, jacobian_fn=None, **extra_args):
        del updates, extra_args
        if params is None or residual_fn is None:
            raise InvalidInputError(
                "gauss_newton needs `params` and the extra argument `residual_fn` in update"
            )
        x, unravel, flat_residual = flatten_residual_fn(residual_fn, params)
        step = gauss_newton_direction(
            flat_residual, x, damping, solver, max_dense_params, cg_max_steps, cg_rtol,
            jacobian_fn=_flat_jacobian_fn(jacobian_fn, unravel),
        )
        new_state = GaussNewtonState(
            optax.safe_increment(state.count),
            jnp.linalg.norm(step.residual).astype(state.residual_norm.dtype),
        )
        return unravel(step.delta.astype(x.dtype)), new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def gauss_newton(
    damping: float = 0.0,
    solver: LinearSolver = "auto",
    max_dense_params: int = 2000,
    cg_max_steps: int | None = None,
    cg_rtol: float | None = None,
    learning_rate: float | None = None,
    max_backtracking_steps: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Gauss-Newton optimiser for $\min_\theta \|r(\theta)\|^2$ (optionally damped / relaxed / line-searched).

    Same as :func:`scale_by_gauss_newton`; with ``learning_rate`` the step is scaled by it
    (a relaxed Gauss-Newton step $\theta \leftarrow \theta + \eta\,\Delta\theta$).

    With ``max_backtracking_steps`` the Gauss-Newton direction is chained with optax's
    backtracking (Armijo) line search on $f = \tfrac12\|r\|^2$
    (``optax.scale_by_backtracking_linesearch``, step halved up to that many times, never
    longer than the full step): $\theta \leftarrow \theta + \alpha\,\Delta\theta$ with the first
    $\alpha$ that gives $f(\theta + \alpha\Delta\theta) \le f(\theta) + 10^{-4}\alpha\,\nabla f^\top\Delta\theta$.
    Unlike Levenberg-Marquardt this keeps the (minimum-norm) Gauss-Newton *direction*, so near a
    root of a mildly nonlinear, ill-conditioned system it converges quadratically where the
    damping would filter out the small-singular-value directions. The update then also needs the
    extra arguments ``value`` ($f(\theta)$), ``grad`` ($\nabla f$) and ``value_fn``
    (:func:`least_squares_solve` passes them).

    Example::

        tx = gauss_newton()
        state = tx.init(params)
        updates, state = tx.update(grads, state, params, residual_fn=residual_fn)
        params = optax.apply_updates(params, updates)

    Raises:
        InvalidInputError (a ``ValueError``): as :func:`scale_by_gauss_newton`, or when both
            ``learning_rate`` and ``max_backtracking_steps`` are given.
    """
    _check_positive_int("max_backtracking_steps", max_backtracking_steps)
    if learning_rate is not None and max_backtracking_steps is not None:
        raise InvalidInputError("give either learning_rate or max_backtracking_steps, not both")
    base = scale_by_gauss_newton(damping, solver, max_dense_params, cg_max_steps, cg_rtol)
    if max_backtracking_steps is not None:
        search = optax.scale_by_backtracking_linesearch(max_backtracking_steps, decrease_factor=0.5)
        return optax.chain(base, search)
    if learning_rate is None:
        return base
    return optax.chain(base, optax.scale(learning_rate))


# ---------------------------------------------------------------------------------------------
# Levenberg-Marquardt
# ---------------------------------------------------------------------------------------------


class LevenbergMarquardtState(NamedTuple):
    """State of :func:`levenberg_marquardt`.

    Attributes:
        count: number of update calls (accepted or not).
        damping: current $\\lambda$.
        accepted: whether the latest trial step was accepted.
        residual_norm: $\\|r\\|_2$ after the latest update (at the accepted point).
    """

    count: Int[Array, ""]
    damping: Float[Array, ""]
    accepted: Array
    residual_norm: Float[Array, ""]


def levenberg_marquardt(
    initial_damping: float = 1e-3,
    increase: float = 10.0,
    decrease: float = 0.1,
    min_gain_ratio: float = 0.0,
    min_damping: float = 1e-15,
    max_damping: float = 1e15,
    solver: LinearSolver = "auto",
    max_dense_params: int = 2000,
    cg_max_steps: int | None = None,
    cg_rtol: float | None = None,
    acceleration: GeodesicAcceleration | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Levenberg-Marquardt with adaptive damping and gain-ratio acceptance.

    Each update solves the damped Gauss-Newton problem at the current $\lambda$ and evaluates
    the trial point. With $F(\theta) = \|r(\theta)\|^2$ and the linear model
    $L(\delta) = \|r + J\delta\|^2$, the gain ratio is

    $$
    \rho = \frac{F(\theta) - F(\theta + \delta)}{L(0) - L(\delta)} .
    $$

    If $\rho >$ ``min_gain_ratio`` (default ``0``: the actual cost decreased) and the trial cost
    is finite, the step is returned and $\lambda \leftarrow \max(\lambda\cdot$``decrease``,
    ``min_damping``$)$; otherwise a zero update is returned and
    $\lambda \leftarrow \min(\lambda\cdot$``increase``, ``max_damping``$)$. Large $\lambda$
    gives a short steepest-descent step, small $\lambda$ a Gauss-Newton step (Levenberg 1944;
    Marquardt 1963; the gain ratio as in Madsen, Nielsen & Tingleff 2004, section 3.2). The
    damping is the identity ($\lambda\|\delta\|^2$), not Marquardt's $\mathrm{diag}(J^\top J)$.

    With ``acceleration=GeodesicAcceleration()`` the trial step is $v + a/2$, the damped step
    $v$ corrected by its geodesic acceleration $a$ (Transtrum & Sethna 2012; see
    :class:`GeodesicAcceleration`): $a$ comes from the same damped system (the same
    factorisation on the dense path) with the residual's second directional derivative
    $r_{vv}$ in place of $r$; the trial is accepted when $\|a\| \le \alpha\|v\|$ and the
    gain-ratio test above passes, with the predicted reduction $\|r\|^2 - \|r + Jv\|^2$ of the
    velocity. Damping adapts as above. Following the curvature of the model lets $\lambda$
    fall much further on curved valleys (e.g. network fits), where plain LM stalls with
    $\lambda$ held up by rejected steps. Each call then costs one more residual evaluation (the
    finite difference) and one more back-substitution.

    ``update(updates, state, params, *, residual_fn, **extra_args)`` ignores ``updates``. Each
    call costs one linearised solve plus one extra residual evaluation.

    Args:
        initial_damping: starting $\lambda > 0$.
        increase: factor (> 1) applied to $\lambda$ after a rejected step.
        decrease: factor in (0, 1) applied to $\lambda$ after an accepted step.
        min_gain_ratio: acceptance threshold on $\rho$, in [0, 1).
        min_damping: lower clamp keeping $\lambda$ in a representable range.
        max_damping: upper clamp keeping $\lambda$ in a representable range.
        solver: as in :func:`scale_by_gauss_newton`.
        max_dense_params: as in :func:`scale_by_gauss_newton`.
        cg_max_steps: as in :func:`scale_by_gauss_newton`.
        cg_rtol: as in :func:`scale_by_gauss_newton`.
        acceleration: ``None`` (plain LM) or a :class:`GeodesicAcceleration`.

    Raises:
        InvalidInputError (a ``ValueError``): on out-of-range factors or damping bounds, or an
            ``acceleration`` that is not a :class:`GeodesicAcceleration`.
    """
    if not initial_damping > 0:
        raise InvalidInputError(f"initial_damping must be > 0, got {initial_damping!r}")
    if not increase > 1:
        raise InvalidInputError(f"increase must be > 1, got {increase!r}")
    if not 0 < decrease < 1:
        raise InvalidInputError(f"decrease must be in (0, 1), got {decrease!r}")
    if not 0 <= min_gain_ratio < 1:
        raise InvalidInputError(f"min_gain_ratio must be in [0, 1), got {min_gain_ratio!r}")
    if not 0 <= min_damping <= initial_damping <= max_damping:
        raise InvalidInputError(
            "need 0 <= min_damping <= initial_damping <= max_damping, got "
            f"{min_damping!r}, {initial_damping!r}, {max_damping!r}"
        )
    _check_solver(solver)
    _check_positive_int("max_dense_params", max_dense_params, allow_none=False)
    _check_positive_int("cg_max_steps", cg_max_steps)
    if cg_rtol is not None and not cg_rtol > 0:
        raise InvalidInputError(f"cg_rtol must be > 0, got {cg_rtol!r}")
    if acceleration is not None and not isinstance(acceleration, GeodesicAcceleration):
        raise InvalidInputError(
            f"acceleration must be None or a GeodesicAcceleration, got {type(acceleration).__name__}"
        )

    def init_fn(params):
        dtype = _norm_dtype(params)
        return LevenbergMarquardtState(
            count=jnp.zeros([], jnp.int32),
            damping=jnp.asarray(initial_damping, dtype),
            accepted=jnp.asarray(False),
            residual_norm=jnp.asarray(jnp.inf, dtype),
        )

    def update_fn(updates, state, params=None, *, residual_fn=None, jacobian_fn=None, **extra_args):
        del updates, extra_args
        if params is None or residual_fn is None:
            raise InvalidInputError(
                "levenberg_marquardt needs `params` and the extra argument `residual_fn`"
            )
        x, unravel, flat_residual = flatten_residual_fn(residual_fn, params)
        lam = state.damping
        step = gauss_newton_direction(
            flat_residual, x, lam.astype(x.dtype), solver, max_dense_params, cg_max_steps, cg_rtol,
            jacobian_fn=_flat_jacobian_fn(jacobian_fn, unravel),
        )
        delta = step.delta.astype(x.dtype)
        cost = jnp.sum(step.residual**2)
        predicted = cost - jnp.sum((step.residual + step.linear_change) ** 2)
        small_correction = jnp.asarray(True)
        if acceleration is not None:
            rvv = acceleration.second_derivative(
                flat_residual, x, delta, step.residual, step.linear_change
            )
            accel = step.solve(-rvv)[0].astype(x.dtype)
            small_correction = jnp.linalg.norm(accel) <= acceleration.max_ratio * jnp.linalg.norm(delta)
            delta = delta + 0.5 * accel
        trial_cost = jnp.sum(flat_residual(x + delta) ** 2)
        actual = cost - trial_cost
        accept = (
            jnp.isfinite(trial_cost)
            & (predicted > 0)
            & (actual > 0)
            & (actual > min_gain_ratio * predicted)
            & small_correction
        )
        new_lam = jnp.where(
            accept,
            jnp.maximum(lam * decrease, min_damping),
            jnp.minimum(lam * increase, max_damping),
        ).astype(lam.dtype)
        new_cost = jnp.where(accept, trial_cost, cost)
        new_state = LevenbergMarquardtState(
            count=optax.safe_increment(state.count),
            damping=new_lam,
            accepted=accept,
            residual_norm=jnp.sqrt(new_cost).astype(state.residual_norm.dtype),
        )
        delta = jnp.where(accept, delta, jnp.zeros_like(delta))
        return unravel(delta), new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


def least_squares_solve(
    residual_fn: Callable[[PyTree], PyTree],
    params: PyTree,
    num_steps: int,
    method: Literal["gauss_newton", "levenberg_marquardt"]
    | optax.GradientTransformation = "gauss_newton",
    *,
    jacobian_fn: Callable[[PyTree], Array] | None = None,
    **options: Any,
) -> tuple[PyTree, Float[Array, ""]]:
    r"""Minimise $\|r(\theta)\|_2^2$ with ``num_steps`` steps of a transform in a jitted loop.

    Args:
        residual_fn: ``params -> residuals`` (any pytree of arrays).
        params: initial parameters (any pytree).
        num_steps: number of update calls (a Python int; the loop is a ``lax.fori_loop``).
        method: ``"gauss_newton"``, ``"levenberg_marquardt"`` (built with ``**options``) or any
            optax transform. Every transform receives the gradient of
            $\tfrac12\|r\|^2$ as ``updates`` and ``residual_fn`` as an extra argument, so
            first-order optimisers (e.g. ``optax.adam``) can be compared on the same problem;
            line-searching transforms (``optax.lbfgs``, :func:`gauss_newton` with
            ``max_backtracking_steps``) also get ``value``, ``grad`` and ``value_fn``.
        jacobian_fn: optional ``params -> (m, n)`` dense Jacobian of the flattened residuals,
            passed to the named methods as an extra argument (see
            :func:`scale_by_gauss_newton`); ignored by other transforms.
        **options: keyword arguments of :func:`gauss_newton` / :func:`levenberg_marquardt`.

    Returns:
        ``(params, residual_norm)``: the final parameters and $\|r\|_2$ there.
    """
    _check_positive_int("num_steps", num_steps, allow_none=False)
    if isinstance(method, str):
        factories = {"gauss_newton": gauss_newton, "levenberg_marquardt": levenberg_marquardt}
        if method not in factories:
            raise InvalidInputError(
                f"method must be one of {tuple(factories)} or an optax transform, got {method!r}"
            )
        tx = factories[method](**options)
    else:
        if options:
            raise InvalidInputError("options are only accepted with a named method")
        tx = optax.with_extra_args_support(method)

    def half_cost(p):
        r, _ = ravel_pytree(residual_fn(p))
        return 0.5 * jnp.sum(jnp.abs(r) ** 2)

    def value_fn(p, residual_fn=None, jacobian_fn=None):  # line searches pass it the other extra arguments
        del residual_fn, jacobian_fn
        return half_cost(p)

    @jax.jit
    def run(p0):
        def body(_, carry):
            p, state = carry
            value, grads = jax.value_and_grad(half_cost)(p)
            extra = {} if jacobian_fn is None else {"jacobian_fn": jacobian_fn}
            updates, state = tx.update(grads, state, p, residual_fn=residual_fn, value=value, grad=grads,
                                       value_fn=value_fn, **extra)
            return optax.apply_updates(p, updates), state

        p, _ = jax.lax.fori_loop(0, num_steps, body, (p0, tx.init(p0)))
        return p, jnp.sqrt(2.0 * half_cost(p))

    return run(params)
