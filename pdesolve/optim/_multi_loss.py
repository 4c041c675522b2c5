r"""Conflict-aware aggregation of per-loss gradients (ConFIG, UPGrad).

Multi-loss training (PDE residual, boundary and data losses of a PINN, say) gives $m$ gradients
$g_1,\dots,g_m \in \mathbb{R}^n$ whose sum may conflict with some of them ($g_i^\top \sum_j g_j
< 0$). The aggregators here map the stacked Jacobian $G = [g_1;\dots;g_m] \in \mathbb{R}^{m\times
n}$ to one update $a$ with $g_i^\top a \ge 0$ for every $i$ (when such a direction exists), so a
small step along $-a$ does not increase any of the losses.

The transforms take the per-loss gradients as a pytree whose leaves carry a leading axis of
size $m$ (e.g. ``jax.jacrev(losses)(params)`` for ``losses: params -> (m,)``) and return a
single update pytree without that axis. They are in gradient convention (like optax's
``scale_by_*``): chain them *first*, then with a learning rate, as :func:`config` and
:func:`upgrad` do.

References:
    Q. Liu, M. Chu, N. Thuerey, "ConFIG: Towards Conflict-free Training of Physics Informed
    Neural Networks", ICLR 2025, arXiv:2408.11104.
    P. Quinton, V. Rey, "Jacobian Descent for Multi-Objective Optimization", 2024,
    arXiv:2406.16232.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, PyTree

from .._errors import InvalidInputError
from ._gauss_newton import _check_positive_int

QPSolver = Literal["auto", "active_set", "projected_gradient"]
_QP_SOLVERS = ("auto", "active_set", "projected_gradient")


def stack_gradients(gradients: PyTree) -> tuple[Float[Array, "m n"], Callable[[Array], PyTree]]:
    """Ravel a pytree of stacked gradients (leading axis ``m``) into rows ``(m, n)``.

    Returns the matrix and a function mapping an ``(n,)`` vector back to the pytree of one
    gradient (leaves without the leading axis, original dtypes).
    """
    leaves = jax.tree_util.tree_leaves(gradients)
    if not leaves:
        raise InvalidInputError("the gradient pytree has no leaves")
    sizes = {leaf.shape[0] if leaf.ndim else None for leaf in leaves}
    if len(sizes) != 1 or None in sizes:
        raise InvalidInputError(
            "every gradient leaf needs the same leading (per-loss) axis; got leading sizes "
            f"{sorted(str(s) for s in sizes)}"
        )
    _, unravel = ravel_pytree(jax.tree_util.tree_map(lambda leaf: leaf[0], gradients))
    matrix = jax.vmap(lambda tree: ravel_pytree(tree)[0])(gradients)
    return matrix, unravel


# ---------------------------------------------------------------------------------------------
# ConFIG
# ---------------------------------------------------------------------------------------------


def config_direction(matrix: Float[Array, "m n"]) -> Float[Array, " n"]:
    r"""ConFIG aggregate of the rows of ``matrix`` (Liu, Chu & Thuerey, ICLR 2025).

    With unit rows $\hat g_i = g_i/\|g_i\|$ (zero rows stay zero) and $\hat G$ the matrix of
    them, the conflict-free direction is the minimum-norm least-squares solution of
    $\hat g_i^\top d = 1$ for all $i$,

    $$
    d = \hat G^{+}\mathbf 1, \qquad \hat d = d/\|d\|, \qquad
    a = \Big(\sum_i g_i^\top \hat d\Big)\hat d .
    $$

    $d$ makes the same angle with every gradient, and when the $g_i$ are linearly independent
    ($m \le n$) $\hat g_i^\top d = 1$ exactly, so $g_i^\top a > 0$ for all $i$. The pseudo-inverse
    uses ``jnp.linalg.pinv`` (relative cutoff ``10 * eps * max(m, n)``).
    """
    norms = jnp.linalg.norm(matrix, axis=1, keepdims=True)
    units = matrix / jnp.where(norms > 0, norms, 1.0)
    d = jnp.linalg.pinv(units) @ jnp.ones(matrix.shape[0], matrix.dtype)
    d_norm = jnp.linalg.norm(d)
    d_hat = d / jnp.where(d_norm > 0, d_norm, 1.0)
    length = jnp.sum(matrix @ d_hat)
    return length * d_hat


def config_aggregator(gradients: PyTree) -> PyTree:
    """ConFIG aggregate (:func:`config_direction`) of stacked per-loss gradients (pytree)."""
    matrix, unravel = stack_gradients(gradients)
    return unravel(config_direction(matrix))


def scale_by_config() -> optax.GradientTransformationExtraArgs:
    r"""Replace stacked per-loss gradients by their ConFIG aggregate (:func:`config_direction`).

    ``update(updates, state, params=None, **extra_args)``: ``updates`` is a pytree whose leaves
    have a leading axis of size $m$ (one gradient per loss); the output has the parameters'
    structure. Chain it first, before any learning rate or moment estimate.
    """

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return config_aggregator(updates), state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def config(learning_rate: optax.ScalarOrSchedule) -> optax.GradientTransformationExtraArgs:
    r"""ConFIG gradient descent (Liu, Chu & Thuerey, ICLR 2025, arXiv:2408.11104).

    From the per-loss gradients $g_1,\dots,g_m$ (a pytree whose leaves have a leading axis $m$,
    e.g. ``jax.jacrev(losses)(params)``), with unit rows $\hat g_i = g_i/\|g_i\|$,

    $$
    d = [\hat g_1;\dots;\hat g_m]^{+}\mathbf 1,\quad \hat d = d/\|d\|,\quad
    \theta \leftarrow \theta - \eta_t \Big(\sum_i g_i^\top\hat d\Big)\hat d ,
    $$

    so every loss decreases to first order whenever the gradients are linearly independent.
    Equal to ``chain(scale_by_config(), scale_by_learning_rate(learning_rate))``; the ConFIG
    paper feeds the aggregate to Adam instead: ``chain(scale_by_config(), adam(lr))``.

    Args:
        learning_rate: $\eta_t$, a scalar or an optax schedule.
    """
    return optax.chain(scale_by_config(), optax.scale_by_learning_rate(learning_rate))


# ---------------------------------------------------------------------------------------------
# UPGrad
# ---------------------------------------------------------------------------------------------


def _box_qp_active_set(gram: Array, linear: Array) -> Array:
    r"""Exact $\min_{\mu\ge0} \tfrac12\mu^\top K\mu + \mu^\top b$ for small $m$, batched over $b$.

    Enumerates all $2^m$ supports $S$: on each, $\mu_S = -K_{SS}^+ b_S$ (zero elsewhere) is the
    minimiser of the quadratic restricted to $\{\mu_{S^c} = 0\}$ (always consistent, since here
    $b = K c$ lies in the range of $K$). The optimum is one of these candidates (its own support),
    and every candidate with $\mu_S \ge 0$ is feasible, so the feasible candidate with the lowest
    objective is optimal. ``linear`` has shape ``(batch, m)``.
    """
    m = gram.shape[0]
    masks = jnp.asarray(np.array(list(itertools.product((0.0, 1.0), repeat=m))), gram.dtype)
    # mu is scale-free (b = K e_i), so a relative tolerance on its sign suffices; it only has to
    # absorb rounding in the optimal candidate. The empty support (mu = 0) is always feasible.
    tol = 1000 * jnp.finfo(gram.dtype).eps

    def candidate(mask, b):
        # Restricted system on the support; identity rows elsewhere keep it square.
        restricted = mask[:, None] * gram * mask[None, :] + jnp.diag(1.0 - mask)
        mu = -(jnp.linalg.pinv(restricted, hermitian=True) @ (mask * b))
        feasible = jnp.all(mu >= -tol * (1.0 + jnp.max(jnp.abs(mu))))
        mu = jnp.maximum(mu, 0.0) * mask
        value = 0.5 * mu @ gram @ mu + mu @ b
        return mu, jnp.where(feasible, value, jnp.inf)

    def solve_one(b):
        mus, values = jax.vmap(candidate, in_axes=(0, None))(masks, b)
        return mus[jnp.argmin(values)]

    return jax.vmap(solve_one)(linear)


def _box_qp_projected_gradient(gram: Array, linear: Array, num_steps: int) -> Array:
    r"""$\min_{\mu\ge0} \tfrac12\mu^\top K\mu + \mu^\top b$ by accelerated projected gradient.

    FISTA (Beck & Teboulle 2009) with step $1/\lambda_{\max}(K)$ and the projection
    $\mu \mapsto \max(\mu, 0)$, run for ``num_steps`` iterations, batched over the rows of
    ``linear``; the $O(1/k^2)$ rate is in the objective, so ill-conditioned $K$ needs more steps.
    """
    lipschitz = jnp.linalg.eigvalsh(gram)[-1]
    step = 1.0 / jnp.where(lipschitz > 0, lipschitz, 1.0)

    def body(_, carry):
        mu, y, t = carry
        mu_next = jnp.maximum(y - step * (y @ gram + linear), 0.0)
        t_next = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t**2))
        y_next = mu_next + ((t - 1.0) / t_next) * (mu_next - mu)
        return mu_next, y_next, t_next

    zeros = jnp.zeros_like(linear)
    mu, _, _ = jax.lax.fori_loop(0, num_steps, body, (zeros, zeros, jnp.ones([], gram.dtype)))
    return mu


def upgrad_weights(
    matrix: Float[Array, "m n"],
    solver: QPSolver = "auto",
    max_active_set_losses: int = 8,
    num_steps: int = 500,
) -> Float[Array, " m"]:
    r"""Weights $w$ with UPGrad aggregate $a = G^\top w$ (see :func:`upgrad_direction`)."""
    if solver not in _QP_SOLVERS:
        raise InvalidInputError(f"solver must be one of {_QP_SOLVERS}, got {solver!r}")
    m = matrix.shape[0]
    gram = matrix @ matrix.T
    # The dual solution is invariant under K -> cK (b = K e_i scales along), so normalise K to
    # unit largest diagonal to make the solvers' cutoffs scale-free.
    scale = jnp.max(jnp.diag(gram), initial=0.0)
    gram = gram / jnp.where(scale > 0, scale, 1.0)
    # b_i = G g_i = K e_i: the rows of K (K is symmetric).
    if solver == "auto":
        solver = "active_set" if m <= max_active_set_losses else "projected_gradient"
    if solver == "active_set":
        mu = _box_qp_active_set(gram, gram)
    else:
        mu = _box_qp_projected_gradient(gram, gram, num_steps)
    return jnp.mean(jnp.eye(m, dtype=matrix.dtype) + mu, axis=0)


def upgrad_direction(
    matrix: Float[Array, "m n"],
    solver: QPSolver = "auto",
    max_active_set_losses: int = 8,
    num_steps: int = 500,
) -> Float[Array, " n"]:
    r"""UPGrad aggregate of the rows of ``matrix`` (Quinton & Rey 2024).

    Each $g_i$ is projected onto the dual cone of the rows, $C = \{x : Gx \ge 0\}$, and the
    projections are averaged: $a = \frac1m\sum_i \pi_C(g_i)$. Every $\pi_C(g_i)$ lies in the convex
    cone $C$, hence so does $a$: $g_j^\top a \ge 0$ for all $j$.

    The projection $\min_x \tfrac12\|x - g_i\|^2$ s.t. $Gx \ge 0$ is solved through its dual: with
    $x = g_i + G^\top\mu$ and the Gram matrix $K = GG^\top$,

    $$
    \mu_i = \operatorname*{arg\,min}_{\mu \ge 0}\ \tfrac12\mu^\top K\mu + \mu^\top K e_i ,
    \qquad \pi_C(g_i) = G^\top(e_i + \mu_i),
    $$

    a box-constrained QP in $m$ variables (a nonnegative least-squares problem), so
    $a = G^\top w$ with $w = \frac1m\sum_i (e_i + \mu_i)$. Solvers:

    - ``"active_set"``: exact, by enumerating the $2^m$ candidate supports (vectorised); the
      default for $m \le$ ``max_active_set_losses``.
    - ``"projected_gradient"``: ``num_steps`` FISTA iterations with projection onto
      $\mu \ge 0$; the default for larger $m$.
    """
    return matrix.T @ upgrad_weights(matrix, solver, max_active_set_losses, num_steps)


def upgrad_aggregator(
    gradients: PyTree,
    solver: QPSolver = "auto",
    max_active_set_losses: int = 8,
    num_steps: int = 500,
) -> PyTree:
    """UPGrad aggregate (:func:`upgrad_direction`) of stacked per-loss gradients (pytree)."""
    matrix, unravel = stack_gradients(gradients)
    return unravel(upgrad_direction(matrix, solver, max_active_set_losses, num_steps))


def _check_upgrad_args(solver, max_active_set_losses, num_steps):
    if solver not in _QP_SOLVERS:
        raise InvalidInputError(f"solver must be one of {_QP_SOLVERS}, got {solver!r}")
    _check_positive_int("max_active_set_losses", max_active_set_losses, allow_none=False)
    if max_active_set_losses > 16:
        raise InvalidInputError(
            f"max_active_set_losses={max_active_set_losses} would enumerate 2^m supports; "
            "use at most 16"
        )
    _check_positive_int("num_steps", num_steps, allow_none=False)


def scale_by_upgrad(
    solver: QPSolver = "auto",
    max_active_set_losses: int = 8,
    num_steps: int = 500,
) -> optax.GradientTransformationExtraArgs:
    r"""Replace stacked per-loss gradients by their UPGrad aggregate (:func:`upgrad_direction`).

    ``updates`` is a pytree whose leaves have a leading axis of size $m$; the output has the
    parameters' structure. Chain it first, before any learning rate or moment estimate.

    Args:
        solver: dual QP solver, ``"auto"``, ``"active_set"`` (exact, $2^m$ supports) or
            ``"projected_gradient"`` (FISTA).
        max_active_set_losses: largest $m$ for which ``"auto"`` picks the active-set solver
            (at most 16).
        num_steps: FISTA iterations of the projected-gradient solver.

    Raises:
        InvalidInputError (a ``ValueError``): on an unknown solver or bad sizes.
    """
    _check_upgrad_args(solver, max_active_set_losses, num_steps)

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return upgrad_aggregator(updates, solver, max_active_set_losses, num_steps), state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def upgrad(
    learning_rate: optax.ScalarOrSchedule,
    solver: QPSolver = "auto",
    max_active_set_losses: int = 8,
    num_steps: int = 500,
) -> optax.GradientTransformationExtraArgs:
    r"""UPGrad Jacobian descent (Quinton & Rey 2024, arXiv:2406.16232).

    Each per-loss gradient $g_i$ is projected onto the dual cone
    $\{a : G a \ge 0\}$ of the Jacobian $G = [g_1;\dots;g_m]$, and the projections are averaged,

    $$
    \theta \leftarrow \theta - \eta_t\,\frac1m\sum_i \pi_{G}(g_i),\qquad
    \pi_G(g) = \operatorname*{arg\,min}_{a:\,Ga\ge 0}\|a - g\|^2 ,
    $$

    each projection solved in its dual, a box-constrained QP in $m$ variables (see
    :func:`scale_by_upgrad`). No loss term's gradient conflicts with the update.
    Equal to ``chain(scale_by_upgrad(...), scale_by_learning_rate(learning_rate))``.

    Args:
        learning_rate: $\eta_t$, a scalar or an optax schedule.
        solver: ``"active_set"`` (exact, enumerates active sets, for few losses),
            ``"projected_gradient"`` (FISTA) or ``"auto"``.
        max_active_set_losses: ``"auto"`` uses the exact solver up to this many losses.
        num_steps: FISTA iterations of the projected-gradient solver.
    """
    return optax.chain(
        scale_by_upgrad(solver, max_active_set_losses, num_steps),
        optax.scale_by_learning_rate(learning_rate),
    )
