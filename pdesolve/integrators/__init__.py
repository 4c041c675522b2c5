"""Time integrators: ETDRK1-4 (and ForcedETDRK4 for time-dependent forcing), IMEX Crank-Nicolson/RK, explicit RK, Diffrax method of lines, rollouts."""

from ._base import AbstractSpectralStepper as AbstractSpectralStepper
from ._base import AbstractStepper as AbstractStepper
from ._batch import rollout_batch as rollout_batch
from ._etdrk import ETDRK1 as ETDRK1
from ._etdrk import ETDRK2 as ETDRK2
from ._etdrk import ETDRK3 as ETDRK3
from ._etdrk import ETDRK4 as ETDRK4
from ._etdrk import ForcedETDRK4 as ForcedETDRK4
from ._etdrk import contour_mean as contour_mean
from ._etdrk import etdrk as etdrk
from ._explicit_rk import ExplicitRK as ExplicitRK
from ._imex import CrankNicolsonEuler as CrankNicolsonEuler
from ._imex import CrankNicolsonRK3 as CrankNicolsonRK3
from ._method_of_lines import MethodOfLines as MethodOfLines
from ._method_of_lines import solve_method_of_lines as solve_method_of_lines
from ._rollout import advance as advance
from ._rollout import rollout as rollout
from ._rollout import rollout_with_progress as rollout_with_progress
from ._rollout import solve_at_times as solve_at_times
from ._registry import INTEGRATORS as INTEGRATORS
from ._registry import build_stepper as build_stepper

__all__ = [
    "AbstractSpectralStepper",
    "AbstractStepper",
    "CrankNicolsonEuler",
    "CrankNicolsonRK3",
    "ETDRK1",
    "ETDRK2",
    "ETDRK3",
    "ETDRK4",
    "ExplicitRK",
    "ForcedETDRK4",
    "INTEGRATORS",
    "MethodOfLines",
    "advance",
    "build_stepper",
    "contour_mean",
    "etdrk",
    "rollout",
    "rollout_batch",
    "rollout_with_progress",
    "solve_at_times",
    "solve_method_of_lines",
]
