r"""AdaHessian: Adam with the squared gradient replaced by a Hutchinson estimate of the squared
Hessian diagonal.

Reference:
    Z. Yao, A. Gholami, S. Shen, M. Mustafa, K. Keutzer, M. W. Mahoney, "ADAHESSIAN: An
    Adaptive Second Order Optimizer for Machine Learning", AAAI 2021, arXiv:2006.00719.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, ArrayLike, Int, PRNGKeyArray, PyTree, Scalar

from .._errors import InvalidInputError
from ._adaptive_common import (
    LearningRate,
    add_weight_decay,
    check_beta,
    check_learning_rate,
    check_nonnegative,
    debias,
    ema,
    increment,
    require_params,
    zeros_like,
)


class ScaleByAdaHessianState(NamedTuple):
    """State of :func:`scale_by_adahessian`."""

    count: Int[Array, ""]
    mu: Any  # EMA of the gradient
    nu: Any  # EMA of the squared (spatially averaged) Hessian-diagonal estimate
    key: PRNGKeyArray  # key of the next Rademacher draw


def _as_key(seed: int | PRNGKeyArray) -> PRNGKeyArray:
    """An integer seed (Python int or integer scalar array) becomes a key; keys pass through."""
    if isinstance(seed, int) or (
        jnp.shape(seed) == () and jnp.issubdtype(jnp.result_type(seed), jnp.integer)
    ):
        return jax.random.PRNGKey(seed)
    return seed


def _spatial_average(d: Array) -> Array:
    """Mean of $|d|$ over the kernel axes ``2..ndim-1`` of a conv-like leaf (ndim >= 3)."""
    if d.ndim < 3:
        return d
    axes = tuple(range(2, d.ndim))
    return jnp.broadcast_to(jnp.mean(jnp.abs(d), axis=axes, keepdims=True), d.shape)


def hutchinson_diagonal(
    value_fn: Callable[[PyTree], Scalar],
    params: PyTree,
    key: PRNGKeyArray,
    spatial_averaging: bool = True,
) -> PyTree:
    r"""One Hutchinson sample $D = z\odot(\nabla^2 f\,z)$ of the Hessian diagonal of ``value_fn``.

    $z$ has independent Rademacher ($\pm 1$) entries, one array per leaf in the leaf's dtype,
    so $\mathbb{E}[D] = \operatorname{diag}\nabla^2 f$ (exactly $D = \operatorname{diag}$ when the
    Hessian is diagonal). The Hessian-vector product is forward-over-reverse
    (``jax.jvp`` of ``jax.grad``): one extra gradient-sized pass. With ``spatial_averaging``,
    leaves with ``ndim >= 3`` get $|D|$ averaged over their kernel axes (see
    :func:`adahessian`).
    """
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, max(len(leaves), 1))
    signs = [
        jax.random.rademacher(k, jnp.shape(p), dtype=jnp.result_type(p))
        for k, p in zip(keys, leaves)
    ]
    z = jax.tree.unflatten(treedef, signs)
    _, hz = jax.jvp(jax.grad(value_fn), (params,), (z,))
    d = jax.tree.map(lambda h, s, p: (h * s).astype(jnp.result_type(p)), hz, z, params)
    if spatial_averaging:
        d = jax.tree.map(_spatial_average, d)
    return d


def scale_by_adahessian(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-4,
    hessian_power: ArrayLike = 1.0,
    spatial_averaging: bool = True,
    seed: int | PRNGKeyArray = 0,
) -> optax.GradientTransformationExtraArgs:
    r"""AdaHessian direction $\hat m_t/((\sqrt{\hat v_t})^k+\epsilon)$, without the learning rate.

    ``update(updates, state, params, value_fn=f)`` needs the parameters and the objective
    ``f: params -> scalar`` (keyword extra argument, as :class:`optimistix.OptaxMinimiser` and
    :func:`optax.lbfgs` pass it). See :func:`adahessian`.
    """
    check_beta(b1, "b1")
    check_beta(b2, "b2")
    check_nonnegative(eps, "eps")
    check_nonnegative(hessian_power, "hessian_power")

    def init_fn(params):
        zeros = zeros_like(params)
        return ScaleByAdaHessianState(
            count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros, key=_as_key(seed)
        )

    def update_fn(updates, state, params=None, *, value_fn=None, **extra_args):
        del extra_args
        require_params(params, "adahessian / scale_by_adahessian")
        if value_fn is None:
            raise InvalidInputError(
                "adahessian needs the objective: call "
                "`update(grads, state, params, value_fn=lambda p: loss(p))` "
                "(value_fn maps the parameters to a scalar loss)"
            )
        key, subkey = jax.random.split(state.key)
        diag = hutchinson_diagonal(value_fn, params, subkey, spatial_averaging)
        count = increment(state.count)
        mu = ema(updates, state.mu, b1)
        nu = ema(jax.tree.map(jnp.square, diag), state.nu, b2)
        c1, c2 = debias(b1, count), debias(b2, count)

        def leaf(m, v):
            dtype = m.dtype
            curvature = jnp.sqrt(v / c2.astype(dtype)) ** hessian_power
            return (m / c1.astype(dtype)) / (curvature + eps)

        new_updates = jax.tree.map(leaf, mu, nu)
        return new_updates, ScaleByAdaHessianState(count=count, mu=mu, nu=nu, key=key)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def adahessian(
    learning_rate: LearningRate,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-4,
    weight_decay: ArrayLike = 0.0,
    hessian_power: ArrayLike = 1.0,
    spatial_averaging: bool = True,
    seed: int | PRNGKeyArray = 0,
) -> optax.GradientTransformationExtraArgs:
    r"""AdaHessian optimizer (Yao et al., AAAI 2021).

    Adam with the second moment of the gradient replaced by the second moment of a randomized
    estimate of the Hessian diagonal, making it a diagonal quasi-Newton method with momentum:

    $$
    \begin{aligned}
    D_t &= z_t\odot(\nabla^2 f(\theta_{t-1})\,z_t), \qquad z_t \sim \text{Rademacher}
        \ \ \text{(Hutchinson: } \mathbb{E}[D_t] = \operatorname{diag}\nabla^2 f),\\
    D^{(s)}_t &= \text{spatial average of } |D_t| \text{ (conv-like leaves, below), else } D_t,\\
    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\,g_t, \qquad
    v_t = \beta_2 v_{t-1} + (1-\beta_2)\,D^{(s)}_t\odot D^{(s)}_t,\\
    \theta_t &= \theta_{t-1} - \alpha_t\Big(\frac{m_t/(1-\beta_1^t)}
        {\big(\sqrt{v_t/(1-\beta_2^t)}\big)^{k} + \epsilon} + \lambda\,\theta_{t-1}\Big),
    \end{aligned}
    $$

    with Hessian power $k$ (``hessian_power``, default 1; $k = 0$ gives SGD with momentum,
    intermediate values interpolate) and decoupled weight decay $\lambda$.

    Spatial averaging: for leaves with ``ndim >= 3`` the magnitudes $|D|$ are averaged over the
    kernel axes ``2..ndim-1``, i.e. over each spatial kernel block of a convolution kernel in
    Equinox/PyTorch layout ``(out, in, *spatial)`` (for 2-D convolutions these are the last two
    axes, as in the paper), and broadcast back. As in the authors' implementation the absolute
    values are averaged (the paper writes the average of $D$; they coincide when all entries of
    a block have one sign). Leaves with ``ndim <= 2`` are not averaged. Disable with
    ``spatial_averaging=False``.

    Calling convention: this is a ``GradientTransformationExtraArgs`` whose ``update`` needs
    ``params`` and the keyword extra argument ``value_fn``, a function ``params -> scalar loss``
    (the same name optimistix's ``OptaxMinimiser`` and :func:`optax.lbfgs` use; optax's Sophia
    calls it ``obj_fn``)::

        updates, state = opt.update(grads, state, params, value_fn=lambda p: loss(p, batch))

    It draws one Rademacher vector per step from a PRNG key kept in its state (seeded by
    ``seed``) and costs one Hessian-vector product (forward-over-reverse) per step.
    ``optax.chain`` forwards extra keyword arguments, so it composes with
    :func:`optax.clip_by_global_norm` etc. (the curvature is always that of ``value_fn``).

    Args:
        learning_rate: $\alpha_t$, non-negative scalar or optax schedule (paper default 0.15).
        b1: $\beta_1\in[0,1)$.
        b2: $\beta_2\in[0,1)$.
        eps: $\epsilon\ge 0$ (default $10^{-4}$ as in the paper).
        weight_decay: $\lambda\ge 0$, decoupled weight decay (added to the direction before
            the learning rate, so it is multiplied by $\alpha_t$).
        hessian_power: $k\ge 0$.
        spatial_averaging: average $|D|$ over kernel blocks of ``ndim >= 3`` leaves.
        seed: integer seed or PRNG key for the Rademacher draws.

    Returns:
        An optax ``GradientTransformationExtraArgs``.

    Raises:
        ValueError: (``pdesolve.InvalidInputError``) for invalid hyperparameters, and from
            ``update`` when ``params`` or ``value_fn`` is missing.

    Reference:
        Z. Yao et al., "ADAHESSIAN: An Adaptive Second Order Optimizer for Machine Learning",
        AAAI 2021, arXiv:2006.00719.
    """
    check_learning_rate(learning_rate)
    check_nonnegative(weight_decay, "weight_decay")
    return optax.chain(
        scale_by_adahessian(
            b1=b1,
            b2=b2,
            eps=eps,
            hessian_power=hessian_power,
            spatial_averaging=spatial_averaging,
            seed=seed,
        ),
        add_weight_decay(weight_decay),
        optax.scale_by_learning_rate(learning_rate),
    )
