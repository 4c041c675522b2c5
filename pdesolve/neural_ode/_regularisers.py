r"""Solver-heuristic regularisers of a neural ODE's training loss (Pal et al. 2021; Pal, Edelman & Rackauckas 2023).

An adaptive solver takes fewer steps on dynamics whose local error and stiffness estimates are
small. A regulariser adds

$$
\lambda\, R + \lambda_S\, R_S
$$

to the loss of each training trajectory, with $R$ an error estimate and $R_S$ a stiffness
estimate of the solve (weights $\lambda$ = `weight`, $\lambda_S$ = `stiffness_weight`), so
that training prefers, among dynamics that fit the data about equally well, those the solver
integrates in fewer steps:

- :class:`GlobalErrorRegulariser` (Pal et al., ICML 2021): $R = R_E = \sum_j E_j |\Delta t_j|$
  and $R_S = \sum_j S_j |\Delta t_j|$ over every accepted step $j$ of the solve, $E_j$ the
  step's error estimate scaled by the tolerances and $S_j$ Hairer's stiffness estimate
  (:class:`~pdesolve.neural_ode.ErrorEstimateRecorder`), differentiated through every step.
- :class:`LocalErrorRegulariser` (Pal, Edelman & Rackauckas, ICML 2023, unbiased sampling): a
  time $s$ drawn uniformly in the window, and $R = E\,h$, $R_S = S\,h$ of one fresh step of the
  controller's initial size $h$ from the gradient-stopped solution $y(s)$
  (:meth:`~pdesolve.neural_ode.NeuralODE.local_regulariser`). Any adjoint works.
"""

from __future__ import annotations

import abc
import math

import diffrax
import equinox as eqx
from jaxtyping import Array, ArrayLike, Float, PyTree

from .._errors import InvalidInputError
from ._model import NeuralODE, supports_stiffness_estimate


def _weight(name: str, value) -> float:
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise InvalidInputError(f"{name} must be non-negative and finite, got {value!r}")
    return value


class AbstractSolverRegulariser(eqx.Module):
    r"""A solver-heuristic regulariser: solve and return $(y(t_k), R, R_S, \text{steps})$ for the loss $\lambda R + \lambda_S R_S$.

    Subclasses set `weight` $\lambda$ and `stiffness_weight` $\lambda_S$ and implement
    :meth:`solve`.
    """

    weight: eqx.AbstractVar[float]
    stiffness_weight: eqx.AbstractVar[float]

    def check(self, model: NeuralODE) -> None:
        """Raise :class:`~pdesolve.InvalidInputError` unless `model` can carry this regulariser."""
        if not model.adaptive:
            raise InvalidInputError("the solver-heuristic regulariser needs an adaptive NeuralODE (adaptive=True)")
        if self.stiffness_weight > 0 and not supports_stiffness_estimate(model.solver):
            raise InvalidInputError(
                "stiffness_weight needs an explicit first-same-as-last Runge-Kutta solver (e.g. Tsit5), got "
                f"{type(model.solver).__name__}"
            )

    @abc.abstractmethod
    def solve(
        self, model: NeuralODE, y0: PyTree[Float[Array, "..."]], ts: Float[Array, " k"], sample_time: ArrayLike
    ) -> tuple[PyTree, Array, Array, Array]:
        r"""``(ys, R, R_S, num_steps)`` of one solve from `y0` at times `ts` (failed solves give NaN).

        `sample_time` $s \in [t_0, t_K]$ is drawn uniformly per trajectory by the data source
        (used by the local variant).
        """


class GlobalErrorRegulariser(AbstractSolverRegulariser):
    r"""$R = \sum_j E_j |\Delta t_j|$, $R_S = \sum_j S_j |\Delta t_j|$ over the accepted steps (Pal et al. 2021).

    Computed by :meth:`~pdesolve.neural_ode.NeuralODE.solve_with_stats` at no extra
    vector-field evaluations; the gradient runs through every step, so the model needs a
    discretise-then-optimise adjoint (recursive checkpoint or direct) and an adaptive solver.

    **Arguments:** `weight` $\lambda \ge 0$; `stiffness_weight` $\lambda_S \ge 0$ (needs an
    explicit first-same-as-last Runge-Kutta solver such as Tsit5).
    """

    weight: float = eqx.field(static=True)
    stiffness_weight: float = eqx.field(static=True)

    def __init__(self, weight: float, stiffness_weight: float = 0.0):
        self.weight = _weight("weight", weight)
        self.stiffness_weight = _weight("stiffness_weight", stiffness_weight)

    def check(self, model: NeuralODE) -> None:
        if isinstance(model.adjoint, diffrax.BacksolveAdjoint):
            raise InvalidInputError(
                "the global solver-heuristic regulariser needs a recursive-checkpoint or direct adjoint, not "
                "diffrax.BacksolveAdjoint (the local one works with any)"
            )
        super().check(model)

    def solve(self, model, y0, ts, sample_time):
        ys, stats = model.solve_with_stats(y0, ts, throw=False)
        return ys, stats.error_sum, stats.stiffness_sum, stats.num_steps


class LocalErrorRegulariser(AbstractSolverRegulariser):
    r"""$R = E\,h$, $R_S = S\,h$ of one fresh step from $y(s)$, $s$ uniform in the window (Pal, Edelman & Rackauckas 2023).

    Computed by :meth:`~pdesolve.neural_ode.NeuralODE.solve_with_local_regulariser`; $y(s)$ and
    $h$ are constants, so any adjoint works. The fresh step is short (the initial-step
    heuristic's), and $E$ scales like $h^{p+1}$, so useful weights are far larger than the
    global regulariser's.

    **Arguments:** `weight` $\lambda \ge 0$; `stiffness_weight` $\lambda_S \ge 0$ (needs an
    explicit first-same-as-last Runge-Kutta solver such as Tsit5).
    """

    weight: float = eqx.field(static=True)
    stiffness_weight: float = eqx.field(static=True)

    def __init__(self, weight: float, stiffness_weight: float = 0.0):
        self.weight = _weight("weight", weight)
        self.stiffness_weight = _weight("stiffness_weight", stiffness_weight)

    def solve(self, model, y0, ts, sample_time):
        return model.solve_with_local_regulariser(y0, ts, sample_time, throw=False)
