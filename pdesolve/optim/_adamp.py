r"""AdamP: Adam with the radial component of the step projected out for scale-invariant weights.

Reference:
    B. Heo, S. Chun, S. J. Oh, D. Han, S. Yun, G. Kim, Y. Uh, J.-W. Ha, "AdamP: Slowing Down
    the Slowdown for Momentum Optimizers on Scale-invariant Weights", ICLR 2021,
    arXiv:2006.08217.
"""

from __future__ import annotations

import math
import operator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, ArrayLike, Float, Int

from .._errors import InvalidInputError
from ._adaptive_common import (
    LearningRate,
    check_beta,
    check_learning_rate,
    check_nonnegative,
    debias,
    ema,
    increment,
    require_params,
    zeros_like,
)


class ScaleByAdamPState(NamedTuple):
    """State of :func:`scale_by_adamp`."""

    count: Int[Array, ""]
    mu: Any
    nu: Any


def _abs_cosine(
    x: Float[Array, "rows cols"], y: Float[Array, "rows cols"], eps: ArrayLike
) -> Float[Array, " rows"]:
    """Row-wise $|x\\cdot y| / (\\max(\\|x\\|,\\epsilon)\\max(\\|y\\|,\\epsilon))$."""
    dot = jnp.sum(x * y, axis=1)
    nx = jnp.maximum(jnp.linalg.norm(x, axis=1), eps)
    ny = jnp.maximum(jnp.linalg.norm(y, axis=1), eps)
    return jnp.abs(dot) / (nx * ny)


def _project_radial(
    w: Float[Array, "rows cols"], p: Float[Array, "rows cols"], eps: ArrayLike
) -> Float[Array, "rows cols"]:
    """Row-wise $p - (\\hat w\\cdot p)\\,\\hat w$ with $\\hat w = w/(\\|w\\| + \\epsilon)$."""
    w_unit = w / (jnp.linalg.norm(w, axis=1, keepdims=True) + eps)
    return p - w_unit * jnp.sum(w_unit * p, axis=1, keepdims=True)


def _adamp_projection(
    w: Array, g: Array, p: Array, delta: ArrayLike, wd_ratio: ArrayLike, eps: ArrayLike,
    channel_axis: int,
) -> tuple[Array, Array]:
    """Projected step and weight-decay factor of one leaf with ``ndim > 1``.

    The channel view is tried first and, only if it does not fire, the layer view (as in the
    authors' implementation).
    """
    shape = w.shape

    def channel_view(x):
        x = jnp.moveaxis(x, channel_axis, 0)
        return x.reshape(x.shape[0], -1)

    moved_shape = (shape[channel_axis],) + shape[:channel_axis] + shape[channel_axis + 1 :]

    def from_channel_view(x):
        return jnp.moveaxis(x.reshape(moved_shape), 0, channel_axis)

    def layer_view(x):
        return x.reshape(1, -1)

    wc, gc, pc = channel_view(w), channel_view(g), channel_view(p)
    cos_channel = jnp.max(_abs_cosine(gc, wc, eps))
    fire_channel = cos_channel < delta / math.sqrt(wc.shape[1])
    projected_channel = from_channel_view(_project_radial(wc, pc, eps))

    wl, gl, pl = layer_view(w), layer_view(g), layer_view(p)
    cos_layer = _abs_cosine(gl, wl, eps)[0]
    fire_layer = jnp.logical_and(~fire_channel, cos_layer < delta / math.sqrt(wl.shape[1]))
    projected_layer = _project_radial(wl, pl, eps).reshape(shape)

    step = jnp.where(fire_channel, projected_channel, jnp.where(fire_layer, projected_layer, p))
    fired = jnp.logical_or(fire_channel, fire_layer)
    wd_factor = jnp.where(fired, jnp.asarray(wd_ratio, p.dtype), jnp.ones([], p.dtype))
    return step, wd_factor


def _static_int(value: Any, name: str) -> int:
    """A Python int from an int or a concrete integer array (as ``optax.inject_hyperparams``
    passes numeric arguments)."""
    try:
        return operator.index(value)
    except TypeError:
        raise InvalidInputError(
            f"{name} must be a concrete integer, got {value!r} (with optax.inject_hyperparams, "
            f"pass static_args=('{name}',))"
        ) from None


def scale_by_adamp(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    delta: ArrayLike = 0.1,
    wd_ratio: ArrayLike = 0.1,
    weight_decay: ArrayLike = 0.0,
    nesterov: bool = False,
    channel_axis: int = 0,
) -> optax.GradientTransformation:
    r"""AdamP direction including its (projection-aware) decoupled weight decay, no learning rate.

    Returns $\tilde p_t/(1-\beta_1^t) + \lambda\,r_t\,\theta_{t-1}$ (see :func:`adamp`).
    ``update`` must receive ``params``.
    """
    check_beta(b1, "b1")
    check_beta(b2, "b2")
    check_nonnegative(eps, "eps")
    check_nonnegative(delta, "delta")
    check_nonnegative(wd_ratio, "wd_ratio")
    check_nonnegative(weight_decay, "weight_decay")
    channel_axis = _static_int(channel_axis, "channel_axis")

    def init_fn(params):
        zeros = zeros_like(params)
        return ScaleByAdamPState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update_fn(updates, state, params=None):
        require_params(params, "adamp / scale_by_adamp")
        count = increment(state.count)
        mu = ema(updates, state.mu, b1)
        nu = ema(jax.tree.map(jnp.square, updates), state.nu, b2)
        c1, c2 = debias(b1, count), debias(b2, count)

        def leaf(g, m, v, w):
            dtype = g.dtype
            denom = jnp.sqrt(v) / jnp.sqrt(c2).astype(dtype) + eps
            numerator = b1 * m + (1.0 - b1) * g if nesterov else m
            step = numerator / denom
            if w.ndim > 1:
                step, wd_factor = _adamp_projection(
                    w, g, step, delta, wd_ratio, eps, channel_axis % w.ndim
                )
            else:
                wd_factor = jnp.ones([], dtype)
            return (step / c1.astype(dtype) + weight_decay * wd_factor * w).astype(dtype)

        new_updates = jax.tree.map(leaf, updates, mu, nu, params)
        return new_updates, ScaleByAdamPState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def adamp(
    learning_rate: LearningRate,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    delta: ArrayLike = 0.1,
    wd_ratio: ArrayLike = 0.1,
    nesterov: bool = False,
    channel_axis: int = 0,
) -> optax.GradientTransformationExtraArgs:
    r"""AdamP optimizer (Heo et al., ICLR 2021).

    Adam, except that for weights that are likely scale-invariant (followed by a normalisation
    layer) the component of the step along the weight itself is removed, which would otherwise
    only grow the weight norm and shrink the effective step size. A leaf is treated as
    scale-invariant when its gradient is nearly orthogonal to it.

    For each leaf $w$ with gradient $g$:

    $$
    \begin{aligned}
    m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\\
    p_t &= \frac{m_t \ \ (\text{or } \beta_1 m_t + (1-\beta_1) g_t \text{ if nesterov})}
               {\sqrt{v_t/(1-\beta_2^t)} + \epsilon},\\
    \tilde p_t &= \begin{cases}
        \Pi_{\text{channel}}(p_t) & \text{if } \max_c |\cos(g_c, w_c)| < \delta/\sqrt{d_c},\\
        \Pi_{\text{layer}}(p_t) & \text{else if } |\cos(g, w)| < \delta/\sqrt{d},\\
        p_t & \text{otherwise},
    \end{cases}
    \qquad \Pi(p) = p - (\hat w\cdot p)\,\hat w,\ \ \hat w = \frac{w}{\|w\| + \epsilon},\\
    \theta_t &= \theta_{t-1} - \alpha_t\Big(\frac{\tilde p_t}{1-\beta_1^t}
                 + \lambda\, r_t\, \theta_{t-1}\Big),
    \qquad r_t = \text{wd\_ratio if a projection fired else } 1.
    \end{aligned}
    $$

    The channel view splits $w$ into rows $w_c$ along ``channel_axis`` (each of length
    $d_c = \text{size}/\text{n\_channels}$; the per-output-channel view of the paper), the
    layer view takes the whole leaf ($d$ = its size); dot products, norms and $\Pi$ act
    within each view's rows. $\cos(x, y) = x\cdot y/(\max(\|x\|,\epsilon)\max(\|y\|,\epsilon))$.
    Leaves with ``ndim <= 1`` (biases, gains, scalars) are never projected: for them AdamP is
    AdamW with decoupled weight decay $\lambda$. The weight decay is decoupled and scaled by
    the learning rate: $\theta \leftarrow \theta(1 - \alpha_t\lambda r_t)$, as in the
    authors' implementation.

    Args:
        learning_rate: $\alpha_t$, a non-negative scalar or an optax schedule.
        b1: $\beta_1\in[0,1)$.
        b2: $\beta_2\in[0,1)$.
        eps: $\epsilon\ge 0$ (denominator, cosine and normalisation guard).
        weight_decay: $\lambda\ge 0$, decoupled weight decay.
        delta: $\delta\ge 0$, threshold of the cosine test (paper default 0.1).
        wd_ratio: factor $\ge 0$ applied to the weight decay of projected leaves (default 0.1).
        nesterov: use the Nesterov-style numerator $\beta_1 m_t + (1-\beta_1) g_t$.
        channel_axis: axis of a leaf that indexes output channels. The default 0 matches
            Equinox/PyTorch layouts (``(out, in, *kernel)``); use ``-1`` for Flax/Haiku
            kernels (``(*kernel, in, out)``).

    Returns:
        An optax ``GradientTransformationExtraArgs``:
        ``chain(scale_by_adamp(...), scale_by_learning_rate(learning_rate))``. Its ``update``
        needs ``params`` (a clear ``ValueError`` is raised otherwise).

    Raises:
        ValueError: (``pdesolve.InvalidInputError``) for invalid hyperparameters.

    Reference:
        B. Heo et al., "AdamP: Slowing Down the Slowdown for Momentum Optimizers on
        Scale-invariant Weights", ICLR 2021, arXiv:2006.08217.
    """
    check_learning_rate(learning_rate)
    return optax.chain(
        scale_by_adamp(
            b1=b1,
            b2=b2,
            eps=eps,
            delta=delta,
            wd_ratio=wd_ratio,
            weight_decay=weight_decay,
            nesterov=nesterov,
            channel_axis=channel_axis,
        ),
        optax.scale_by_learning_rate(learning_rate),
    )
