r"""Geodesic acceleration for Levenberg-Marquardt (Transtrum & Sethna 2012).

A Levenberg-Marquardt step $v$ is the first-order term of a path through parameter space
along which the model moves in a straight line in residual space. Its second-order term, the
*geodesic acceleration* $a$, follows the curvature of the model manifold:

$$
v = -(J^\top J + \lambda I)^{-1} J^\top r, \qquad
a = -(J^\top J + \lambda I)^{-1} J^\top r_{vv}, \qquad
r_{vv} = \frac{d^2}{dt^2}\, r(\theta + t v)\Big|_{t=0},
$$

and the trial step is $\delta = v + a/2$. In narrow curved valleys the plain step must stay
short (large $\lambda$) to stay in the valley; with the correction it can follow the valley, so
$\lambda$ can fall further and convergence continues where plain LM stalls.

References:
    M. K. Transtrum, J. P. Sethna, "Improvements to the Levenberg-Marquardt algorithm for
    nonlinear least-squares minimization", arXiv:1201.5885 (2012).
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._errors import InvalidInputError


class GeodesicAcceleration(eqx.Module):
    r"""Second-order correction of a Levenberg-Marquardt step, passed as ``acceleration=``.

    With the velocity $v$ (the damped Gauss-Newton step) and the residual's second directional
    derivative $r_{vv}$ along it, the acceleration $a$ solves the same damped system as $v$ with
    $r_{vv}$ in place of $r$, and :func:`levenberg_marquardt` tries $\theta + v + a/2$. The trial
    is accepted only if the correction is small against the step,

    $$
    \|a\| \le \alpha \|v\|,
    $$

    and the cost drops (the gain-ratio test of plain LM, with the predicted reduction of the
    velocity's linear model $\|r\|^2 - \|r + Jv\|^2$); otherwise the update is zero and
    $\lambda$ grows as after any rejected step.

    $r_{vv}$ is computed either by the finite difference of Transtrum & Sethna,

    $$
    r_{vv} \approx \frac{2}{h}\left(\frac{r(\theta + h v) - r(\theta)}{h} - J v\right),
    $$

    which costs one residual evaluation ($r$ and $Jv$ are already known), or exactly as a
    forward-over-forward derivative (``jax.jvp`` of ``jax.jvp``) when ``step`` is ``None``.

    **Arguments:**

    - `max_ratio`: $\alpha$ in $(0, \infty)$, the largest accepted $\|a\|/\|v\|$ (0.75 in the
      reference).
    - `step`: the finite-difference step $h > 0$ (relative to $v$), or ``None`` for the exact
      second derivative.
    """

    max_ratio: float = eqx.field(default=0.75, static=True)
    step: float | None = eqx.field(default=0.1, static=True)

    def __check_init__(self):
        if not (isinstance(self.max_ratio, (int, float)) and self.max_ratio > 0):
            raise InvalidInputError(f"max_ratio must be a number > 0, got {self.max_ratio!r}")
        if self.step is not None and not (isinstance(self.step, (int, float)) and self.step > 0):
            raise InvalidInputError(f"step must be a number > 0 or None, got {self.step!r}")

    def second_derivative(
        self,
        flat_residual: Callable[[Array], Array],
        x: Float[Array, " n"],
        velocity: Float[Array, " n"],
        residual: Float[Array, " m"],
        linear_change: Float[Array, " m"],
    ) -> Float[Array, " m"]:
        r"""$r_{vv}$ at ``x`` along ``velocity``, given $r(x)$ and $Jv$ (``linear_change``)."""
        if self.step is None:
            def directional(y):
                return jax.jvp(flat_residual, (y,), (velocity,))[1]

            return jax.jvp(directional, (x,), (velocity,))[1]
        h = jnp.asarray(self.step, x.dtype)
        return (2.0 / h) * ((flat_residual(x + h * velocity) - residual) / h - linear_change)
