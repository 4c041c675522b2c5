r"""AdaBound and AMSBound: Adam/AMSGrad whose per-coordinate step size is clipped into bounds
that tighten over time towards a constant (SGD-like) final learning rate.

Reference:
    L. Luo, Y. Xiong, Y. Liu, X. Sun, "Adaptive Gradient Methods with Dynamic Bound of
    Learning Rate", ICLR 2019, arXiv:1902.09843.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, ArrayLike, Int

from .._errors import InvalidInputError
from ._adaptive_common import (
    LearningRate,
    check_beta,
    check_learning_rate,
    check_nonnegative,
    check_positive,
    concrete_float,
    debias,
    ema,
    increment,
    zeros_like,
)


class ScaleByAdaBoundState(NamedTuple):
    """State of :func:`scale_by_adabound`; ``nu_max`` is ``None`` unless ``amsbound``."""

    count: Int[Array, ""]
    mu: Any
    nu: Any
    nu_max: Any


def scale_by_adabound(
    final_lr_ratio: ArrayLike = 100.0,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    gamma: ArrayLike = 1e-3,
    amsbound: bool = False,
) -> optax.GradientTransformation:
    r"""AdaBound/AMSBound direction in units of the learning rate.

    Returns $\operatorname{clip}\big(1/(\sqrt{\hat v_t}+\epsilon),\ \rho\,l(t),\ \rho\,u(t)\big)
    \odot \hat m_t$ with $\rho$ = ``final_lr_ratio`` $= \alpha^\ast/\alpha_0$ (final learning
    rate over initial learning rate), $l(t) = 1 - 1/(\gamma t + 1)$ and $u(t) = 1 + 1/(\gamma t)$;
    multiplying by the learning rate $\alpha_t$ afterwards gives :func:`adabound`.
    """
    check_nonnegative(final_lr_ratio, "final_lr_ratio")
    check_beta(b1, "b1")
    check_beta(b2, "b2")
    check_nonnegative(eps, "eps")
    check_positive(gamma, "gamma")

    def init_fn(params):
        zeros = zeros_like(params)
        return ScaleByAdaBoundState(
            count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros, nu_max=zeros if amsbound else None
        )

    def update_fn(updates, state, params=None):
        del params
        count = increment(state.count)
        mu = ema(updates, state.mu, b1)
        nu = ema(jax.tree.map(jnp.square, updates), state.nu, b2)
        if amsbound:
            nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu)
            second = nu_max
        else:
            nu_max = None
            second = nu
        c1, c2 = debias(b1, count), debias(b2, count)
        t = count.astype(c1.dtype)
        lower = final_lr_ratio * (1.0 - 1.0 / (gamma * t + 1.0))
        upper = final_lr_ratio * (1.0 + 1.0 / (gamma * t))

        def leaf(m, v):
            dtype = m.dtype
            m_hat = m / c1.astype(dtype)
            v_hat = v / c2.astype(dtype)
            step_size = jnp.clip(
                1.0 / (jnp.sqrt(v_hat) + eps),
                jnp.asarray(lower, dtype),
                jnp.asarray(upper, dtype),
            )
            return step_size * m_hat

        new_updates = jax.tree.map(leaf, mu, second)
        return new_updates, ScaleByAdaBoundState(count=count, mu=mu, nu=nu, nu_max=nu_max)

    return optax.GradientTransformation(init_fn, update_fn)


def _initial_lr(learning_rate: LearningRate, base_lr: ArrayLike | None) -> ArrayLike:
    r"""$\alpha_0$: ``base_lr`` if given, else the learning rate (at step 0 for a schedule).

    Checked to be positive when concrete; a traced value (an optimizer built inside ``jit``,
    e.g. by ``optax.inject_hyperparams``) is used as is.
    """
    if base_lr is not None:
        value, alpha0, what = concrete_float(base_lr), base_lr, "base_lr"
    else:
        with jax.ensure_compile_time_eval():  # also concrete when built inside a jit trace
            alpha0 = learning_rate(0) if callable(learning_rate) else learning_rate
        value, what = concrete_float(alpha0), "the initial learning rate"
    if value is not None and not value > 0.0:
        raise InvalidInputError(
            f"adabound scales final_lr by learning_rate / (initial learning rate), but "
            f"{what} is {value}; pass a positive base_lr (e.g. the peak of a warm-up schedule)"
        )
    return alpha0


def adabound(
    learning_rate: LearningRate,
    final_lr: ArrayLike = 0.1,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    gamma: ArrayLike = 1e-3,
    amsbound: bool = False,
    base_lr: ArrayLike | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""AdaBound optimizer (Luo et al., ICLR 2019); ``amsbound=True`` gives AMSBound.

    Adam whose elementwise step size is clipped into an interval
    $[\eta_l(t), \eta_u(t)]$ that starts as $[0, \infty)$ (pure Adam) and shrinks to the single
    value $\alpha^\ast$ = ``final_lr`` (SGD with momentum):

    $$
    \begin{aligned}
    m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,
    \qquad \hat m_t = \frac{m_t}{1-\beta_1^t},\quad
    \hat v_t = \frac{\bar v_t}{1-\beta_2^t},\\
    &\bar v_t = v_t \ \text{(AdaBound)}, \qquad
     \bar v_t = \max(\bar v_{t-1}, v_t) \ \text{(AMSBound)},\\
    f_t &= \alpha^\ast\,\alpha_t/\alpha_0, \qquad
    \eta_l(t) = f_t\Big(1 - \frac{1}{\gamma t + 1}\Big), \qquad
    \eta_u(t) = f_t\Big(1 + \frac{1}{\gamma t}\Big),\\
    \theta_t &= \theta_{t-1} - \operatorname{clip}\Big(\frac{\alpha_t}{\sqrt{\hat v_t}+\epsilon},
                  \eta_l(t), \eta_u(t)\Big)\odot \hat m_t .
    \end{aligned}
    $$

    Convention for schedules (exact): the final learning rate follows the schedule in
    proportion, $f_t = \alpha^\ast\alpha_t/\alpha_0$ with $\alpha_0$ the initial learning rate
    (``learning_rate(0)``, or ``base_lr`` when given), as the authors' implementation does to let
    a learning-rate scheduler also decay the final rate. Then the step equals
    $\alpha_t\cdot\operatorname{clip}\big(1/(\sqrt{\hat v_t}+\epsilon),
    (\alpha^\ast/\alpha_0)(1 - \tfrac{1}{\gamma t+1}),
    (\alpha^\ast/\alpha_0)(1 + \tfrac{1}{\gamma t})\big)\odot\hat m_t$, which is how it is built:
    :func:`scale_by_adabound` with ``final_lr_ratio`` $=\alpha^\ast/\alpha_0$ followed by
    :func:`optax.scale_by_learning_rate`. For a constant learning rate this is the formula above
    with $f_t = \alpha^\ast$.

    Conventions differing from the authors' PyTorch code: the bias corrections are applied to
    $m_t$ and $v_t$ before clipping (the code clips $\alpha\sqrt{1-\beta_2^t}/((1-\beta_1^t)
    (\sqrt{v_t}+\epsilon))$ and multiplies by the raw $m_t$, so its $1/(1-\beta_1^t)$ sits
    inside the clip and $\epsilon$ is not bias-corrected); the two agree once
    $\beta_1^t \approx 0$ and $\epsilon$ is negligible. The paper's algorithm also differs
    (no bias correction, an extra $1/\sqrt t$); we follow the common Adam-style form. AMSBound
    keeps the running maximum of the raw $v_t$ (as the authors' code) and bias-corrects it with
    the current $1-\beta_2^t$. No weight decay is built in: chain
    :func:`optax.add_decayed_weights` in front for the L2 penalty of the authors' code.

    Args:
        learning_rate: $\alpha_t$, a non-negative scalar or an optax schedule.
        final_lr: $\alpha^\ast\ge 0$, the SGD learning rate the bounds converge to
            (paper default 0.1).
        b1: $\beta_1\in[0,1)$.
        b2: $\beta_2\in[0,1)$.
        eps: $\epsilon\ge 0$.
        gamma: $\gamma > 0$, convergence speed of the bounds (default $10^{-3}$: the bounds
            are within 1% of $\alpha^\ast$ after about $10^5$ steps).
        amsbound: use the running maximum of $v_t$ (AMSBound).
        base_lr: $\alpha_0$; defaults to ``learning_rate`` or ``learning_rate(0)``. Must be
            given when the schedule starts at zero. Under :func:`optax.inject_hyperparams`
            the optimizer is rebuilt at every step with the current learning rate, so pass
            ``base_lr`` there too if ``final_lr`` should follow the schedule.

    Returns:
        An optax ``GradientTransformationExtraArgs``.

    Raises:
        ValueError: (``pdesolve.InvalidInputError``) for invalid hyperparameters, or when
            $\alpha_0$ is not positive (e.g. a warm-up schedule starting at zero without
            ``base_lr``).

    Reference:
        L. Luo, Y. Xiong, Y. Liu, X. Sun, "Adaptive Gradient Methods with Dynamic Bound of
        Learning Rate", ICLR 2019, arXiv:1902.09843.
    """
    check_learning_rate(learning_rate)
    check_nonnegative(final_lr, "final_lr")
    alpha0 = _initial_lr(learning_rate, base_lr)
    return optax.chain(
        scale_by_adabound(
            final_lr_ratio=final_lr / alpha0, b1=b1, b2=b2, eps=eps, gamma=gamma, amsbound=amsbound
        ),
        optax.scale_by_learning_rate(learning_rate),
    )


def amsbound(
    learning_rate: LearningRate,
    final_lr: ArrayLike = 0.1,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    gamma: ArrayLike = 1e-3,
    base_lr: ArrayLike | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""AMSBound optimizer (Luo et al., ICLR 2019): :func:`adabound` with ``amsbound=True``.

    Identical to AdaBound except that the second moment is the running maximum
    $\bar v_t = \max(\bar v_{t-1}, v_t)$, so the adaptive step size never grows:

    $$
    \theta_t = \theta_{t-1} - \operatorname{clip}\Big(\frac{\alpha_t}
      {\sqrt{\bar v_t/(1-\beta_2^t)}+\epsilon}, \eta_l(t), \eta_u(t)\Big)\odot \hat m_t .
    $$

    See :func:`adabound` for the bounds, the schedule convention and the arguments.

    Reference:
        L. Luo, Y. Xiong, Y. Liu, X. Sun, "Adaptive Gradient Methods with Dynamic Bound of
        Learning Rate", ICLR 2019, arXiv:1902.09843.
    """
    return adabound(
        learning_rate,
        final_lr=final_lr,
        b1=b1,
        b2=b2,
        eps=eps,
        gamma=gamma,
        amsbound=True,
        base_lr=base_lr,
    )
