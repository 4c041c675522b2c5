r"""diffGrad: Adam whose step is damped where the gradient has stopped changing.

Reference:
    S. R. Dubey, S. Chakraborty, S. K. Roy, S. Mukherjee, S. K. Singh, B. B. Chaudhuri,
    "diffGrad: An Optimization Method for Convolutional Neural Networks",
    IEEE Trans. Neural Netw. Learn. Syst. 31 (2020) 4500-4511, arXiv:1909.11015 (2019).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, ArrayLike, Int

from ._adaptive_common import (
    LearningRate,
    check_beta,
    check_learning_rate,
    check_nonnegative,
    debias,
    ema,
    increment,
    zeros_like,
)


class ScaleByDiffGradState(NamedTuple):
    """State of :func:`scale_by_diffgrad`."""

    count: Int[Array, ""]
    mu: Any  # first moment m_t
    nu: Any  # second moment v_t
    prev_grad: Any  # g_{t-1}; zeros before the first step


def scale_by_diffgrad(
    b1: ArrayLike = 0.9, b2: ArrayLike = 0.999, eps: ArrayLike = 1e-8
) -> optax.GradientTransformation:
    r"""Rescale gradients by the diffGrad rule (without the learning rate).

    Returns the direction $\xi_t\odot\hat m_t/(\sqrt{\hat v_t}+\epsilon)$; see
    :func:`diffgrad` for the full update and the arguments.
    """
    check_beta(b1, "b1")
    check_beta(b2, "b2")
    check_nonnegative(eps, "eps")

    def init_fn(params):
        zeros = zeros_like(params)
        return ScaleByDiffGradState(
            count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros, prev_grad=zeros
        )

    def update_fn(updates, state, params=None):
        del params
        count = increment(state.count)
        mu = ema(updates, state.mu, b1)
        nu = ema(jax.tree.map(jnp.square, updates), state.nu, b2)
        c1, c2 = debias(b1, count), debias(b2, count)

        def leaf(g, g_prev, m, v):
            friction = jax.nn.sigmoid(jnp.abs(g_prev - g))
            m_hat = m / c1.astype(m.dtype)
            v_hat = v / c2.astype(v.dtype)
            return friction * m_hat / (jnp.sqrt(v_hat) + eps)

        new_updates = jax.tree.map(leaf, updates, state.prev_grad, mu, nu)
        return new_updates, ScaleByDiffGradState(count=count, mu=mu, nu=nu, prev_grad=updates)

    return optax.GradientTransformation(init_fn, update_fn)


def diffgrad(
    learning_rate: LearningRate,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
) -> optax.GradientTransformationExtraArgs:
    r"""diffGrad optimizer (Dubey et al., 2019).

    Adam whose per-coordinate step is multiplied by a "friction" coefficient that is small
    where the gradient barely changed between consecutive steps (flat regions, or close to an
    optimum where the gradient is small and steady) and close to one where it changes fast:

    $$
    \begin{aligned}
    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\,g_t, &
    v_t &= \beta_2 v_{t-1} + (1-\beta_2)\,g_t^2, \\
    \hat m_t &= m_t/(1-\beta_1^t), & \hat v_t &= v_t/(1-\beta_2^t), \\
    \xi_t &= \operatorname{sigmoid}\!\big(|g_{t-1} - g_t|\big), &
    \theta_t &= \theta_{t-1} - \alpha_t\,\xi_t\odot\hat m_t/(\sqrt{\hat v_t}+\epsilon),
    \end{aligned}
    $$

    all operations elementwise, with $m_0 = v_0 = 0$ and $g_0 = 0$ (the authors'
    implementation initialises the stored previous gradient to zero, so
    $\xi_1 = \operatorname{sigmoid}(|g_1|) \in [1/2, 1)$). Since
    $\operatorname{sigmoid}(x) \ge 1/2$ for $x \ge 0$, the step is between one half and
    one times Adam's.

    Conventions: $\epsilon$ is added to the bias-corrected $\sqrt{\hat v_t}$ as in the paper's
    algorithm and in optax's Adam (the authors' PyTorch code adds it to $\sqrt{v_t}$ and folds
    $\sqrt{1-\beta_2^t}$ into the step size instead; the two differ only through $\epsilon$).
    $g_t$ is whatever reaches this transform, e.g. the clipped gradient when it is chained after
    :func:`optax.clip_by_global_norm`. For L2 regularisation chain
    :func:`optax.add_decayed_weights` in front.

    Args:
        learning_rate: $\alpha_t$, a non-negative scalar or an optax schedule
            ``count -> scalar``.
        b1: $\beta_1\in[0,1)$, decay of the first moment.
        b2: $\beta_2\in[0,1)$, decay of the second moment.
        eps: $\epsilon\ge 0$ added to the denominator.

    Returns:
        An optax ``GradientTransformationExtraArgs``:
        ``chain(scale_by_diffgrad(b1, b2, eps), scale_by_learning_rate(learning_rate))``.

    Raises:
        ValueError: (``pdesolve.InvalidInputError``) for a negative learning rate, betas outside
            $[0, 1)$ or a negative ``eps``.

    Reference:
        S. R. Dubey et al., "diffGrad: An Optimization Method for Convolutional Neural
        Networks", IEEE TNNLS 31 (2020) 4500-4511, arXiv:1909.11015.
    """
    check_learning_rate(learning_rate)
    return optax.chain(
        scale_by_diffgrad(b1=b1, b2=b2, eps=eps),
        optax.scale_by_learning_rate(learning_rate),
    )
