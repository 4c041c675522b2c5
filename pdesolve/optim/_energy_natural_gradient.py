r"""Energy natural gradient descent (Müller & Zeinhofer, ICML 2023) for PINN-type losses.

For a loss $L(\theta) = \tfrac12\sum_i w_i |r_i(\theta)|^2$ built from PDE-interior and boundary
residuals, the energy natural gradient preconditions $\nabla L$ with the Gram matrix of the
(linearised) energy, which for a quadratic energy is

$$
G(\theta) = \sum_i w_i \nabla r_i \nabla r_i^\top = J^\top W J,
\qquad \nabla L = J^\top W r ,
$$

and updates $\theta \leftarrow \theta + \eta^* \Delta\theta$ with
$\Delta\theta = -G^+\nabla L$ (or $-(G + \epsilon I)^{-1}\nabla L$ with a ridge $\epsilon$) and
$\eta^*$ the best of a logarithmic grid $\eta_k = \beta^k$, $k = 0,\dots,K-1$ (the paper uses
$\beta = 1/2$): $\eta^* = \arg\min_k L(\theta + \eta_k\Delta\theta)$.

``residual_fn(params)`` must return the *weighted* residuals $\sqrt{w_i}\,r_i$ (any pytree),
so that $L = \tfrac12\|\text{residual\_fn}(\theta)\|^2$.

Relation to Gauss-Newton: $G^+\nabla L = (J_w^\top J_w)^+ J_w^\top r_w = J_w^+ r_w$ with
$J_w = W^{1/2}J$, so the ENG direction *is* the (minimum-norm) Gauss-Newton direction of
:mod:`pdesolve.optim._gauss_newton`, and it is computed by the same code: densely from the SVD
of $J_w$ (which never forms $G$), or matrix-free with CG on
$(G + \epsilon I)\delta = -\nabla L$. What ENG adds is the globalisation: the line search over
$\eta$ replaces Gauss-Newton's unit step / Levenberg-Marquardt's damping control, and $G$ is
used through its (truncated) pseudo-inverse or a small ridge because it is typically singular
or numerically rank deficient for neural networks. If no grid point lowers the loss, the update
is zero (equivalently, $\eta = 0$ belongs to the grid).

Truncation: the reference implementation applies ``lstsq`` to $G$ itself, which discards
eigenvalues of $G$ below $\varepsilon\max(m, n)\lambda_{\max}$, i.e. singular values of $J_w$
below $\sqrt{\varepsilon\max(m, n)}\,\sigma_{\max}$. The default ``rcond`` reproduces that
cutoff on the SVD of $J_w$. It matters: with the untruncated pseudo-inverse
(``rcond = eps * max(m, n)``) the directions of tiny singular values produce huge steps, the
line search can only take minute $\eta$, and small PINNs were observed to stall at
$L = O(1)$; with the default they reached $L \approx 10^{-13}$ in 20-40 steps.

Reference:
    J. Müller, M. Zeinhofer, "Achieving High Accuracy with PINNs via Energy Natural Gradient
    Descent", ICML 2023, arXiv:2302.13163.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int

from .._errors import InvalidInputError
from ..linalg import flatten_residual_fn
from ._gauss_newton import (
    LinearSolver,
    _check_nonnegative,
    _check_positive_int,
    _check_solver,
    _norm_dtype,
    gauss_newton_direction,
)


class EnergyNaturalGradientState(NamedTuple):
    """State of :func:`energy_natural_gradient`.

    Attributes:
        count: number of updates.
        step_size: the $\\eta^*$ chosen by the latest line search (``0`` if no decrease).
        loss: $L$ after the latest update.
    """

    count: Int[Array, ""]
    step_size: Float[Array, ""]
    loss: Float[Array, ""]


def energy_natural_gradient(
    ridge: float = 0.0,
    line_search_steps: int = 31,
    line_search_factor: float = 0.5,
    line_search_batch_size: int | None = None,
    solver: LinearSolver = "auto",
    max_dense_params: int = 2000,
    cg_max_steps: int | None = None,
    cg_rtol: float | None = None,
    rcond: float | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Energy natural gradient step with a logarithmic-grid line search.

    ``update(updates, state, params, *, residual_fn, **extra_args)`` ignores ``updates`` and
    returns $\eta^*\Delta\theta$, $\Delta\theta = -(G + \epsilon I)^{+}\nabla L$ (see the module
    docstring), to be applied with ``optax.apply_updates`` and no learning rate.

    Args:
        ridge: $\epsilon \ge 0$ added to $G$ (``0``: the truncated pseudo-inverse alone).
        line_search_steps: grid size $K$; the grid is $\eta_k = \beta^k$, $k = 0..K-1$.
        line_search_factor: $\beta \in (0, 1)$.
        line_search_batch_size: evaluate the $K$ trial losses in batches of this size with
            ``jax.lax.map`` (``None``: all at once with ``vmap``, $K$ times the memory of one
            residual evaluation).
        solver: linear solver of the Gauss-Newton system, as in
            :func:`pdesolve.optim.scale_by_gauss_newton`.
        max_dense_params: as in :func:`pdesolve.optim.scale_by_gauss_newton`.
        cg_max_steps: as in :func:`pdesolve.optim.scale_by_gauss_newton`.
        cg_rtol: as in :func:`pdesolve.optim.scale_by_gauss_newton`.
        rcond: dense path only: singular values of $W^{1/2}J$ below ``rcond * sigma_max`` are
            dropped. ``None``: $\sqrt{\varepsilon\max(m, n)}$ (the cutoff of a pseudo-inverse
            of $G$; see the module docstring).

    Raises:
        InvalidInputError (a ``ValueError``): on out-of-range arguments.
    """
    _check_nonnegative("ridge", ridge)
    _check_positive_int("line_search_steps", line_search_steps, allow_none=False)
    _check_positive_int("line_search_batch_size", line_search_batch_size)
    if not 0 < line_search_factor < 1:
        raise InvalidInputError(
            f"line_search_factor must be in (0, 1), got {line_search_factor!r}"
        )
    _check_solver(solver)
    _check_positive_int("max_dense_params", max_dense_params, allow_none=False)
    _check_positive_int("cg_max_steps", cg_max_steps)
    if cg_rtol is not None and not cg_rtol > 0:
        raise InvalidInputError(f"cg_rtol must be > 0, got {cg_rtol!r}")
    if rcond is not None and not 0 <= rcond < 1:
        raise InvalidInputError(f"rcond must be in [0, 1), got {rcond!r}")

    def init_fn(params):
        dtype = _norm_dtype(params)
        return EnergyNaturalGradientState(
            jnp.zeros([], jnp.int32), jnp.zeros([], dtype), jnp.asarray(jnp.inf, dtype)
        )

    def update_fn(updates, state, params=None, *, residual_fn=None, **extra_args):
        del updates, extra_args
        if params is None or residual_fn is None:
            raise InvalidInputError(
                "energy_natural_gradient needs `params` and the extra argument `residual_fn`"
            )
        x, unravel, flat_residual = flatten_residual_fn(residual_fn, params)
        cutoff = rcond
        if cutoff is None:
            num_residuals = jax.eval_shape(flat_residual, x).shape[0]
            cutoff = float(np.sqrt(np.finfo(x.dtype).eps * max(num_residuals, x.size)))
        step = gauss_newton_direction(
            flat_residual, x, ridge, solver, max_dense_params, cg_max_steps, cg_rtol, cutoff
        )
        direction = step.delta.astype(x.dtype)
        loss0 = 0.5 * jnp.sum(step.residual**2)

        etas = line_search_factor ** jnp.arange(line_search_steps, dtype=x.dtype)

        def trial_loss(eta):
            loss = 0.5 * jnp.sum(flat_residual(x + eta * direction) ** 2)
            return jnp.where(jnp.isfinite(loss), loss, jnp.inf)

        if line_search_batch_size is None:
            losses = jax.vmap(trial_loss)(etas)
        else:
            losses = jax.lax.map(trial_loss, etas, batch_size=line_search_batch_size)
        best = jnp.argmin(losses)
        improved = losses[best] < loss0
        eta = jnp.where(improved, etas[best], jnp.zeros_like(etas[best]))
        new_loss = jnp.where(improved, losses[best], loss0)
        new_state = EnergyNaturalGradientState(
            optax.safe_increment(state.count),
            eta.astype(state.step_size.dtype),
            new_loss.astype(state.loss.dtype),
        )
        return unravel(eta * direction), new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
