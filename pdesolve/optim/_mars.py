r"""MARS (MARS-AdamW): AdamW driven by a variance-reduced, norm-clipped gradient estimate.

Reference:
    H. Yuan, Y. Liu, S. Wu, X. Zhou, Q. Gu, "MARS: Unleashing the Power of Variance Reduction
    for Training Large Models", arXiv:2411.10438 (2024).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, ArrayLike, Int

from ._adaptive_common import (
    LearningRate,
    add_weight_decay,
    check_beta,
    check_learning_rate,
    check_nonnegative,
    check_positive,
    debias,
    ema,
    increment,
    zeros_like,
)


class ScaleByMarsState(NamedTuple):
    """State of :func:`scale_by_mars`."""

    count: Int[Array, ""]
    mu: Any
    nu: Any
    prev_grad: Any  # g_{t-1}; zeros before the first step


def scale_by_mars(
    b1: ArrayLike = 0.95,
    b2: ArrayLike = 0.99,
    eps: ArrayLike = 1e-8,
    gamma: ArrayLike = 0.025,
    max_norm: ArrayLike | None = 1.0,
) -> optax.GradientTransformation:
    r"""MARS-AdamW direction $\hat m_t/(\sqrt{\hat v_t}+\epsilon)$ on the corrected gradient
    $\tilde c_t$, without weight decay and learning rate (see :func:`mars`)."""
    check_beta(b1, "b1")
    check_beta(b2, "b2")
    check_nonnegative(eps, "eps")
    check_nonnegative(gamma, "gamma")
    if max_norm is not None:
        check_positive(max_norm, "max_norm")

    def init_fn(params):
        zeros = zeros_like(params)
        return ScaleByMarsState(
            count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros, prev_grad=zeros
        )

    def update_fn(updates, state, params=None):
        del params
        count = increment(state.count)
        scale = gamma * b1 / (1.0 - b1)

        def corrected(g, g_prev):
            c = g + scale * (g - g_prev)
            if max_norm is None:
                return c.astype(g.dtype)
            norm = jnp.sqrt(jnp.sum(jnp.square(c)))
            factor = jnp.where(norm > max_norm, max_norm / jnp.where(norm > 0, norm, 1), 1)
            return (c * factor).astype(g.dtype)

        c = jax.tree.map(corrected, updates, state.prev_grad)
        mu = ema(c, state.mu, b1)
        nu = ema(jax.tree.map(jnp.square, c), state.nu, b2)
        c1, c2 = debias(b1, count), debias(b2, count)

        def leaf(m, v):
            dtype = m.dtype
            return (m / c1.astype(dtype)) / (jnp.sqrt(v / c2.astype(dtype)) + eps)

        new_updates = jax.tree.map(leaf, mu, nu)
        return new_updates, ScaleByMarsState(count=count, mu=mu, nu=nu, prev_grad=updates)

    return optax.GradientTransformation(init_fn, update_fn)


def mars(
    learning_rate: LearningRate,
    b1: ArrayLike = 0.95,
    b2: ArrayLike = 0.99,
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    gamma: ArrayLike = 0.025,
    max_norm: ArrayLike | None = 1.0,
) -> optax.GradientTransformationExtraArgs:
    r"""MARS-AdamW optimizer (Yuan et al., 2024), approximate ("MARS-approx") form.

    MARS feeds AdamW with a STORM-like variance-reduced gradient: the current gradient plus a
    scaled difference of consecutive gradients, clipped to unit norm:

    $$
    \begin{aligned}
    c_t &= g_t + \gamma\,\frac{\beta_1}{1-\beta_1}\,(g_t - g_{t-1}), \qquad
    \tilde c_t = \begin{cases} c_t/\|c_t\|_2 & \|c_t\|_2 > 1 \\ c_t & \text{otherwise}
    \end{cases},\\
    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\,\tilde c_t, \qquad
    v_t = \beta_2 v_{t-1} + (1-\beta_2)\,\tilde c_t^2,\\
    \theta_t &= \theta_{t-1} - \alpha_t\Big(\frac{m_t/(1-\beta_1^t)}
        {\sqrt{v_t/(1-\beta_2^t)} + \epsilon} + \lambda\,\theta_{t-1}\Big),
    \end{aligned}
    $$

    with $g_0 = 0$ and $m_0 = v_0 = 0$. This is the approximate variant used in practice, where
    $g_{t-1}$ is the previous step's gradient (on the previous batch) rather than the gradient
    of the current batch at the previous iterate, which would need a second gradient evaluation.

    Conventions (following the authors' implementation): the norm and clipping are per leaf
    (per parameter tensor), with threshold ``max_norm`` (1 in the paper; ``None`` disables
    clipping); the stored previous gradient starts at zero, so $c_1 = (1 + \gamma\beta_1/(1 -
    \beta_1))\,g_1$ before clipping; the weight decay is decoupled and multiplied by the learning
    rate. The authors' code by default optimises 1-D leaves with plain AdamW and separate
    hyperparameters; here the MARS rule is applied to every leaf (their ``optimize_1d=True``);
    use :func:`optax.partition` to treat some leaves differently.

    Args:
        learning_rate: $\alpha_t$, non-negative scalar or optax schedule (paper default
            $3\times 10^{-3}$).
        b1: $\beta_1\in[0,1)$ (default 0.95).
        b2: $\beta_2\in[0,1)$ (default 0.99).
        eps: $\epsilon\ge 0$.
        weight_decay: $\lambda\ge 0$, decoupled weight decay.
        gamma: $\gamma\ge 0$, scale of the gradient-correction term (default 0.025;
            $\gamma = 0$ with ``max_norm=None`` is AdamW).
        max_norm: per-leaf clipping threshold of $c_t$ (default 1), or ``None``.

    Returns:
        An optax ``GradientTransformationExtraArgs``.

    Raises:
        ValueError: (``pdesolve.InvalidInputError``) for invalid hyperparameters.

    Reference:
        H. Yuan, Y. Liu, S. Wu, X. Zhou, Q. Gu, "MARS: Unleashing the Power of Variance
        Reduction for Training Large Models", arXiv:2411.10438 (2024).
    """
    check_learning_rate(learning_rate)
    check_nonnegative(weight_decay, "weight_decay")
    return optax.chain(
        scale_by_mars(b1=b1, b2=b2, eps=eps, gamma=gamma, max_norm=max_norm),
        add_weight_decay(weight_decay),
        optax.scale_by_learning_rate(learning_rate),
    )
