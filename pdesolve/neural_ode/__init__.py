r"""Neural ODEs $\dot y = f_\theta(t, y)$ integrated with Diffrax, with a choice of adjoint.

- :class:`NeuralODE` (adaptive or fixed-step Diffrax solves; the gradient method is a Diffrax
  adjoint object: ``diffrax.RecursiveCheckpointAdjoint()``, ``diffrax.BacksolveAdjoint()``,
  ``diffrax.DirectAdjoint()``), :class:`MLPVectorField`.
- Solver-heuristic regularisers (Pal et al. 2021, 2023): :class:`GlobalErrorRegulariser`,
  :class:`LocalErrorRegulariser`, built on :class:`ErrorEstimateRecorder` and
  :func:`stiffness_estimate`.
- Closures: :class:`ClosureVectorField` (a reference PDE plus a learned correction,
  :class:`PeriodicConvCorrection`) and :class:`FourierModes` (a reduced Fourier state).
- Training in :func:`pdesolve.training.train`: :class:`TrajectoryWindows` (the data source),
  :class:`NeuralODELoss`, the wrapper :func:`fit_neural_ode`, :data:`NEURAL_ODE_SPEC` for
  ``pdesolve train neural-ode``; :func:`evaluate_rollouts`.
"""


from ._closure import ClosureVectorField as ClosureVectorField
from ._closure import PeriodicConvCorrection as PeriodicConvCorrection
from ._fourier_reduction import FourierModes as FourierModes
from ._model import ErrorEstimateRecorder as ErrorEstimateRecorder
from ._model import MLPVectorField as MLPVectorField
from ._model import NeuralODE as NeuralODE
from ._model import SolveStats as SolveStats
from ._model import function_evaluations as function_evaluations
from ._model import stiffness_estimate as stiffness_estimate
from ._model import supports_stiffness_estimate as supports_stiffness_estimate
from ._plugin import NEURAL_ODE_SPEC as NEURAL_ODE_SPEC
from ._regularisers import AbstractSolverRegulariser as AbstractSolverRegulariser
from ._regularisers import GlobalErrorRegulariser as GlobalErrorRegulariser
from ._regularisers import LocalErrorRegulariser as LocalErrorRegulariser
from ._training import NeuralODELoss as NeuralODELoss
from ._training import TrajectoryWindows as TrajectoryWindows
from ._training import WindowBatch as WindowBatch
from ._training import evaluate_rollouts as evaluate_rollouts
from ._training import fit_neural_ode as fit_neural_ode

__all__ = [
    "AbstractSolverRegulariser",
    "ClosureVectorField",
    "ErrorEstimateRecorder",
    "FourierModes",
    "GlobalErrorRegulariser",
    "LocalErrorRegulariser",
    "MLPVectorField",
    "NEURAL_ODE_SPEC",
    "NeuralODE",
    "NeuralODELoss",
    "PeriodicConvCorrection",
    "SolveStats",
    "TrajectoryWindows",
    "WindowBatch",
    "evaluate_rollouts",
    "fit_neural_ode",
    "function_evaluations",
    "stiffness_estimate",
    "supports_stiffness_estimate",
]
