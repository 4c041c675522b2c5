r"""EXAdam: Adam with cross-moment debiasing and a gradient-acceleration term.

Reference:
    A. M. Adly, "EXAdam: The Power of Adaptive Cross-Moments", arXiv:2412.20302 (2024).
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


class ScaleByEXAdamState(NamedTuple):
    """State of :func:`scale_by_exadam`."""

    count: Int[Array, ""]
    mu: Any
    nu: Any


def scale_by_exadam(
    b1: ArrayLike = 0.9, b2: ArrayLike = 0.999, eps: ArrayLike = 1e-8
) -> optax.GradientTransformation:
    r"""EXAdam direction $(\tilde m_t + \tilde g_t)/(\sqrt{\tilde v_t} + \epsilon)$, no step size.

    See :func:`exadam`.
    """
    check_beta(b1, "b1")
    check_beta(b2, "b2")
    check_positive(eps, "eps")

    def init_fn(params):
        zeros = zeros_like(params)
        return ScaleByEXAdamState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update_fn(updates, state, params=None):
        del params
        count = increment(state.count)
        mu = ema(updates, state.mu, b1)
        nu = ema(jax.tree.map(jnp.square, updates), state.nu, b2)
        c1, c2 = debias(b1, count), debias(b2, count)
        b1_t = jnp.asarray(b1) ** count
        b2_t = jnp.asarray(b2) ** count

        def leaf(g, m, v):
            dtype = g.dtype
            d1 = 1.0 + v / (v + eps) * b2_t.astype(dtype)
            m_sq = jnp.square(m)
            d2 = 1.0 + m_sq / (m_sq + eps) * b1_t.astype(dtype)
            m_tilde = m / c1.astype(dtype) * d1
            v_tilde = v / c2.astype(dtype) * d2
            g_tilde = g / c1.astype(dtype) * d1
            return (m_tilde + g_tilde) / (jnp.sqrt(v_tilde) + eps)

        new_updates = jax.tree.map(leaf, updates, mu, nu)
        return new_updates, ScaleByEXAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def exadam(
    learning_rate: LearningRate,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""EXAdam optimizer (Adly, 2024).

    Adam with (i) "cross-moment" debiasing, where each bias-corrected moment is further scaled
    by a factor that uses the other moment and decays like $\beta^t$ (so only early steps are
    affected), and (ii) a gradient-acceleration term that adds the (debiased) current gradient
    to the momentum in the numerator:

    $$
    \begin{aligned}
    m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\\
    d_{1,t} &= 1 + \frac{v_t}{v_t + \epsilon}\,\beta_2^t, \qquad
    d_{2,t} = 1 + \frac{m_t^2}{m_t^2 + \epsilon}\,\beta_1^t,\\
    \tilde m_t &= \frac{m_t}{1-\beta_1^t}\,d_{1,t}, \qquad
    \tilde v_t = \frac{v_t}{1-\beta_2^t}\,d_{2,t}, \qquad
    \tilde g_t = \frac{g_t}{1-\beta_1^t}\,d_{1,t},\\
    \theta_t &= \theta_{t-1} - \alpha_t\Big(\frac{\tilde m_t + \tilde g_t}
        {\sqrt{\tilde v_t} + \epsilon} + \lambda\,\theta_{t-1}\Big).
    \end{aligned}
    $$

    Since $\tilde g_t$ roughly doubles the numerator once the moments have settled, a given
    learning rate moves about twice as far as in Adam; the first steps are larger still, because
    $\tilde g_1 = g_1 d_{1,1}/(1-\beta_1)$: with the default betas the first step is
    $(1+\beta_2)(1 + 1/(1-\beta_1))/\sqrt{1+\beta_1}\approx 15.95$ times $\alpha$ per
    coordinate (Adam's is $\alpha$). Choose the learning rate, or a warm-up, accordingly.

    Provenance and uncertain points. The formulae follow the author's public PyTorch
    implementation (``exadam.py`` in the EXAdam repository) and a transcription of Algorithm 1
    of arXiv:2412.20302v2 (as we read the paper; the two agree). The same $\epsilon$ appears in
    $d_1$, $d_2$ and the denominator, as in that code. The first version of the preprint also
    described a "dynamic step size" that lets the learning rate grow throughout training
    (reportedly $\alpha_t = \alpha\ln(\sqrt{2}\sqrt{t})$; not verified); the second version and
    the official code drop it and so do we. A growing step size can be supplied as a schedule,
    e.g. ``learning_rate=lambda count: alpha * jnp.log(jnp.sqrt(2.0 * (count + 1)))``. The
    decoupled weight decay $\lambda$ is not in the paper's algorithm; it follows the official
    code, which shrinks $\theta$ by $\alpha\lambda\theta$ before the step (equivalent to the
    formula above, the gradient having been taken at $\theta_{t-1}$).

    Args:
        learning_rate: $\alpha_t$, non-negative scalar or optax schedule (paper default
            $10^{-3}$).
        b1: $\beta_1\in[0,1)$.
        b2: $\beta_2\in[0,1)$.
        eps: $\epsilon > 0$ (must be positive: it also regularises $d_1$ and $d_2$).
        weight_decay: $\lambda\ge 0$, decoupled weight decay.

    Returns:
        An optax ``GradientTransformationExtraArgs``.

    Raises:
        ValueError: (``pdesolve.InvalidInputError``) for invalid hyperparameters.

    Reference:
        A. M. Adly, "EXAdam: The Power of Adaptive Cross-Moments", arXiv:2412.20302 (2024).
    """
    check_learning_rate(learning_rate)
    check_nonnegative(weight_decay, "weight_decay")
    return optax.chain(
        scale_by_exadam(b1=b1, b2=b2, eps=eps),
        add_weight_decay(weight_decay),
        optax.scale_by_learning_rate(learning_rate),
    )
