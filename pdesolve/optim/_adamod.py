r"""AdaMod: Adam whose per-coordinate step sizes are capped by their own long-term average.

Reference:
    J. Ding, X. Ren, R. Luo, X. Sun, "An Adaptive and Momental Bound Method for Stochastic
    Learning", arXiv:1910.12249 (2019).
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


class ScaleByAdaModState(NamedTuple):
    """State of :func:`scale_by_adamod`; ``step_avg`` is $s_t$ in units of the learning rate."""

    count: Int[Array, ""]
    mu: Any
    nu: Any
    step_avg: Any


def scale_by_adamod(
    b1: ArrayLike = 0.9, b2: ArrayLike = 0.999, b3: ArrayLike = 0.999, eps: ArrayLike = 1e-8
) -> optax.GradientTransformation:
    r"""AdaMod direction in units of the learning rate (see :func:`adamod`).

    Returns $\min(\eta_t, s_t)\odot\hat m_t$ with $\eta_t = 1/(\sqrt{\hat v_t}+\epsilon)$ and
    $s_t = \beta_3 s_{t-1} + (1-\beta_3)\eta_t$.
    """
    check_beta(b1, "b1")
    check_beta(b2, "b2")
    check_beta(b3, "b3")
    check_nonnegative(eps, "eps")

    def init_fn(params):
        zeros = zeros_like(params)
        return ScaleByAdaModState(
            count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros, step_avg=zeros
        )

    def update_fn(updates, state, params=None):
        del params
        count = increment(state.count)
        mu = ema(updates, state.mu, b1)
        nu = ema(jax.tree.map(jnp.square, updates), state.nu, b2)
        c1, c2 = debias(b1, count), debias(b2, count)

        def step_size(v):
            return 1.0 / (jnp.sqrt(v / c2.astype(v.dtype)) + eps)

        eta = jax.tree.map(step_size, nu)
        step_avg = ema(eta, state.step_avg, b3)

        def leaf(m, e, s):
            return jnp.minimum(e, s) * (m / c1.astype(m.dtype))

        new_updates = jax.tree.map(leaf, mu, eta, step_avg)
        return new_updates, ScaleByAdaModState(count=count, mu=mu, nu=nu, step_avg=step_avg)

    return optax.GradientTransformation(init_fn, update_fn)


def adamod(
    learning_rate: LearningRate,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    b3: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
) -> optax.GradientTransformationExtraArgs:
    r"""AdaMod optimizer (Ding et al., 2019).

    Adam with a "momental bound": each coordinate's adaptive step size is not allowed to exceed
    an exponential average of its own past values, which removes the very large steps Adam can
    take early in training (it acts as an automatic, per-coordinate warm-up):

    $$
    \begin{aligned}
    m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,
    \qquad \hat m_t = \frac{m_t}{1-\beta_1^t},\quad \hat v_t = \frac{v_t}{1-\beta_2^t},\\
    \eta_t &= \frac{\alpha}{\sqrt{\hat v_t}+\epsilon}, \qquad
    s_t = \beta_3 s_{t-1} + (1-\beta_3)\,\eta_t, \quad s_0 = 0, \\
    \theta_t &= \theta_{t-1} - \min(\eta_t, s_t)\odot\hat m_t .
    \end{aligned}
    $$

    The memory of the bound is about $1/(1-\beta_3)$ steps (1000 for the default), so the first
    steps are much shorter than Adam's: $s_1 = (1-\beta_3)\eta_1$.

    Learning-rate schedules: the learning rate is folded out of the bound, i.e. $s_t$ is kept in
    units of the learning rate ($\tilde s_t = \beta_3\tilde s_{t-1} + (1-\beta_3)/(\sqrt{\hat
    v_t}+\epsilon)$) and the step is $\alpha_t\min(1/(\sqrt{\hat v_t}+\epsilon), \tilde s_t)
    \odot\hat m_t$. For a constant $\alpha$ this is exactly the update above ($s_t = \alpha
    \tilde s_t$); with a schedule $\alpha_t$ it is the paper's rule applied to the
    learning-rate-free step sizes, so a schedule change acts immediately instead of being
    smoothed by the $\beta_3$ average (in the paper's form a decrease would also act
    immediately, through $\eta_t$, but an increase would be delayed). This is what makes
    ``adamod = chain(scale_by_adamod(...), scale_by_learning_rate(learning_rate))`` possible.
    No weight decay is built in; chain :func:`optax.add_decayed_weights` in front for the L2
    penalty of the authors' code.

    Args:
        learning_rate: $\alpha$ (or schedule $\alpha_t$), non-negative.
        b1: $\beta_1\in[0,1)$.
        b2: $\beta_2\in[0,1)$.
        b3: $\beta_3\in[0,1)$, decay of the step-size average (paper default 0.999;
            $\beta_3 = 0$ recovers Adam).
        eps: $\epsilon\ge 0$.

    Returns:
        An optax ``GradientTransformationExtraArgs``.

    Raises:
        ValueError: (``pdesolve.InvalidInputError``) for invalid hyperparameters.

    Reference:
        J. Ding, X. Ren, R. Luo, X. Sun, "An Adaptive and Momental Bound Method for Stochastic
        Learning", arXiv:1910.12249 (2019).
    """
    check_learning_rate(learning_rate)
    return optax.chain(
        scale_by_adamod(b1=b1, b2=b2, b3=b3, eps=eps),
        optax.scale_by_learning_rate(learning_rate),
    )
