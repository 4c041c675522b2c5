r"""Neural ODEs $\dot y = f_\theta(t, y)$ integrated with Diffrax, with a choice of adjoint.

- :class:`NeuralODE` (adaptive or fixed-step Diffrax solves; ``recursive-checkpoint``,
  ``backsolve`` or ``direct`` adjoint, :func:`make_adjoint`), :class:`MLPVectorField`.
- Solver-heuristic regularisers (Pal et al. 2021, 2023): :class:`ErrorEstimateRecorder`,
  :func:`stiffness_estimate`.
- Closures: :class:`ClosureVectorField` (a reference PDE plus a learned correction,
  :class:`PeriodicConvCorrection`) and :class:`FourierModes` (a reduced Fourier state).
- Training: :func:`fit_neural_ode`, :func:`evaluate_rollouts`.
"""


from ._closure import ClosureVectorField as ClosureVectorField
from ._closure import PeriodicConvCorrection as PeriodicConvCorrection
from ._fourier_reduction import FourierModes as FourierModes
from ._model import ADJOINTS as ADJOINTS
from ._model import ErrorEstimateRecorder as ErrorEstimateRecorder
from ._model import MLPVectorField as MLPVectorField
from ._model import NeuralODE as NeuralODE
from ._model import SolveStats as SolveStats
from ._model import function_evaluations as function_evaluations
from ._model import make_adjoint as make_adjoint
from ._model import stiffness_estimate as stiffness_estimate
from ._model import supports_stiffness_estimate as supports_stiffness_estimate
from ._training import evaluate_rollouts as evaluate_rollouts
from ._training import fit_neural_ode as fit_neural_ode

__all__ = [
    "ADJOINTS",
    "ClosureVectorField",
    "ErrorEstimateRecorder",
    "FourierModes",
    "MLPVectorField",
    "NeuralODE",
    "PeriodicConvCorrection",
    "SolveStats",
    "evaluate_rollouts",
    "fit_neural_ode",
    "function_evaluations",
    "make_adjoint",
    "stiffness_estimate",
    "supports_stiffness_estimate",
]
