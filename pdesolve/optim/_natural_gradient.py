r"""Natural-gradient projection of a function-space update onto a network's tangent space.

For a model $u_\theta(x)$ (``apply_fn(params, x)``, scalar or array valued), collocation points
$x_1,\dots,x_N$ with quadrature weights $w_i \ge 0$ and a target function-space increment
$\delta u_i$, the parameter update is the weighted least-squares projection

$$
\Delta\theta = \operatorname*{arg\,min}_{\delta}\ \sum_{i=1}^N w_i\,|J_i\delta - \delta u_i|^2
               + \lambda\|\delta\|^2,
\qquad J_i = \frac{\partial u_\theta(x_i)}{\partial\theta},
$$

i.e. the least-squares solution of $W^{1/2} J \delta \approx W^{1/2}\delta u$ (rows scaled by
$\sqrt{w_i}$; each component of a vector output is a separate row, and complex outputs
contribute their real and imaginary parts). To first order, $u_{\theta+\Delta\theta} \approx
u_\theta + J\Delta\theta$ is the $L^2(w)$-closest function to $u_\theta + \delta u$ that the
network can reach, which is the natural-gradient step for the function-space $L^2$ metric
(Amari 1998) and the inner step of TENG (Chen et al. 2024), applied repeatedly with no learning
rate. It is solved densely (thin SVD, minimum-norm solution when $J$ is rank deficient).

Random parameter subsets (Berman & Peherstorfer 2023): with ``subset_size`` $s$, a subset
$S$ of $s$ raveled parameter indices is drawn without replacement and only $\Delta\theta_S$ is
solved for ($\Delta\theta_{S^c} = 0$). The columns $J_S$ are computed as JVPs of one
linearisation along the $s$ one-hot tangents $e_k$, $k\in S$ (``vmap`` over the tangents),
so the Jacobian cost scales with $s$ rather than with the number of parameters.

References:
    S. Amari, "Natural gradient works efficiently in learning", Neural Comput. 10 (1998).
    Z. Chen, J. McCarran, E. Vizcaino, M. Soljačić, D. Luo, "TENG: Time-Evolving Natural
    Gradient for Solving PDEs With Deep Neural Nets Toward Machine Precision", ICML 2024,
    arXiv:2404.10771.
    J. Berman, B. Peherstorfer, "Randomized sparse Neural Galerkin schemes for solving
    evolution equations with deep networks", NeurIPS 2023, arXiv:2310.04867.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, Int, PRNGKeyArray, PyTree

from .._errors import InvalidInputError
from ..linalg import damped_lstsq, dense_jacobian
from ._gauss_newton import _check_nonnegative, _check_positive_int


def _real_rows(values: Array) -> Array:
    """Flatten model values to real rows ``(N, k)``; complex values give ``[re, im]`` columns."""
    rows = values.reshape(values.shape[0], -1)
    if jnp.iscomplexobj(rows):
        rows = jnp.concatenate([rows.real, rows.imag], axis=1)
    return rows


def tangent_space_projection(
    apply_fn: Callable[[PyTree, Any], Array],
    params: PyTree,
    points: PyTree,
    delta_u: Array,
    weights: Float[Array, " N"] | None = None,
    subset_size: int | None = None,
    key: PRNGKeyArray | None = None,
    ridge: float | Array = 0.0,
) -> PyTree:
    r"""Least-squares projection of $\delta u$ onto the tangent space of $u_\theta$.

    Args:
        apply_fn: ``apply_fn(params, x)`` evaluates the model at one point ``x``; it is
            ``vmap``-ed over the leading axis of ``points``.
        params: parameters $\theta$ (any pytree of floating arrays).
        points: collocation points, leading axis $N$ (an array or a pytree of arrays).
        delta_u: target increment, shape ``(N, *output_shape)`` (same size as the stacked model
            values).
        weights: quadrature weights $w_i \ge 0$, shape ``(N,)`` (default all ones).
        subset_size: if given, solve only for a random subset of this many raveled parameters
            (needs ``key``); the others get a zero update.
        key: PRNG key for the subset draw.
        ridge: Tikhonov parameter $\lambda \ge 0$.

    Returns:
        $\Delta\theta$ with the structure and dtypes of ``params``.

    Raises:
        InvalidInputError (a ``ValueError``): on shape mismatches, a missing key, a subset
            larger than the number of parameters or a negative ridge.
    """
    _check_nonnegative("ridge", ridge)
    _check_positive_int("subset_size", subset_size)
    flat, unravel = ravel_pytree(params)
    num_params = flat.size
    num_points = jax.tree_util.tree_leaves(points)[0].shape[0]

    sqrt_w = None
    if weights is not None:
        weights = jnp.asarray(weights)
        if weights.shape != (num_points,):
            raise InvalidInputError(
                f"weights must have shape ({num_points},), got {tuple(weights.shape)}"
            )
        sqrt_w = jnp.sqrt(weights)

    def weighted_values(x):
        values = jax.vmap(lambda pt: apply_fn(unravel(x), pt))(points)
        rows = _real_rows(values)
        if sqrt_w is not None:
            rows = sqrt_w[:, None].astype(rows.dtype) * rows
        return rows.ravel()

    delta_u = jnp.asarray(delta_u)
    if delta_u.shape[:1] != (num_points,):
        raise InvalidInputError(
            f"delta_u must have leading axis {num_points} (one row per point), "
            f"got shape {tuple(delta_u.shape)}"
        )
    rhs_rows = _real_rows(delta_u)
    if sqrt_w is not None:
        rhs_rows = sqrt_w[:, None].astype(rhs_rows.dtype) * rhs_rows
    rhs = rhs_rows.ravel()
    num_rows = jax.eval_shape(weighted_values, flat).shape[0]
    if rhs.size != num_rows:
        raise InvalidInputError(
            f"delta_u has {rhs.size} real entries but the model gives {num_rows} "
            "(points x outputs); shapes must match"
        )

    if subset_size is None:
        jac = dense_jacobian(weighted_values, flat, num_rows)
        delta = damped_lstsq(jac, rhs.astype(jac.dtype), ridge)
        return unravel(delta.astype(flat.dtype))

    if subset_size > num_params:
        raise InvalidInputError(
            f"subset_size={subset_size} exceeds the number of parameters ({num_params})"
        )
    if key is None:
        raise InvalidInputError("subset_size needs a PRNG `key` to draw the parameter subset")
    indices = jax.random.choice(key, num_params, (subset_size,), replace=False)
    jac_subset = subset_jacobian(weighted_values, flat, indices)
    delta_subset = damped_lstsq(jac_subset, rhs.astype(jac_subset.dtype), ridge)
    delta = jnp.zeros_like(flat).at[indices].set(delta_subset.astype(flat.dtype))
    return unravel(delta)


def subset_jacobian(
    fn: Callable[[Array], Array], x: Float[Array, " n"], indices: Int[Array, " s"]
) -> Float[Array, "m s"]:
    r"""Columns $\partial f/\partial x_k$, $k \in$ ``indices``, as ``(m, s)``.

    Computed as $s$ JVPs of one linearisation along the one-hot tangents $e_k$.
    """
    _, jvp_fn = jax.linearize(fn, x)
    tangents = jax.nn.one_hot(indices, x.size, dtype=x.dtype)
    return jax.vmap(jvp_fn, out_axes=1)(tangents)


class NaturalGradientState(NamedTuple):
    """State of :func:`natural_gradient_projection`.

    Attributes:
        count: number of updates.
        key: PRNG key for the next parameter-subset draw.
    """

    count: Int[Array, ""]
    key: PRNGKeyArray


def natural_gradient_projection(
    subset_size: int | None = None,
    ridge: float = 0.0,
    seed: int = 0,
) -> optax.GradientTransformationExtraArgs:
    r"""Optax transform whose update projects $u^* - u_\theta$ onto the tangent space.

    ``update(updates, state, params, *, apply_fn, points, target, weights=None, **extra)``
    ignores ``updates`` and returns
    $\Delta\theta = \operatorname{arg\,min}_\delta \sum_i w_i|J_i\delta - (u^*_i - u_\theta(x_i))|^2
    + \lambda\|\delta\|^2$ (see :func:`tangent_space_projection`), to be applied with
    ``optax.apply_updates`` and no learning rate. Repeating the update is a Gauss-Newton
    iteration for $\min_\theta \sum_i w_i |u_\theta(x_i) - u^*_i|^2$ (the TENG inner loop).

    Args:
        subset_size: random parameter-subset size (``None``: all parameters). A fresh subset is
            drawn on every call from the key carried in the state.
        ridge: Tikhonov parameter $\lambda \ge 0$.
        seed: seed of the PRNG key stored in the state.

    Raises:
        InvalidInputError (a ``ValueError``): on a non-positive ``subset_size`` or negative ridge.
    """
    _check_positive_int("subset_size", subset_size)
    _check_nonnegative("ridge", ridge)

    def init_fn(params):
        del params
        return NaturalGradientState(jnp.zeros([], jnp.int32), jax.random.PRNGKey(seed))

    def update_fn(
        updates,
        state,
        params=None,
        *,
        apply_fn=None,
        points=None,
        target=None,
        weights=None,
        **extra_args,
    ):
        del updates, extra_args
        if params is None or apply_fn is None or points is None or target is None:
            raise InvalidInputError(
                "natural_gradient_projection needs `params` and the extra arguments "
                "`apply_fn`, `points` and `target`"
            )
        key, subkey = jax.random.split(state.key)
        current = jax.vmap(lambda pt: apply_fn(params, pt))(points)
        delta_u = jnp.asarray(target) - current
        delta = tangent_space_projection(
            apply_fn, params, points, delta_u, weights, subset_size, subkey, ridge
        )
        return delta, NaturalGradientState(optax.safe_increment(state.count), key)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
