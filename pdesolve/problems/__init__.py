"""The problem registry: every named problem pdesolve ships, declared once.

- :func:`get`, :func:`names`, :func:`register`, :func:`registry` over :class:`AbstractProblem` s.
- Reference problems (:class:`ReferenceProblem`, built by :func:`build_problem` into a
  :class:`Problem`: a PDE, an initial condition and a time step) behind ``pdesolve solve``.
- Hard-constraint benchmarks (:class:`ConstraintProblem`: :class:`DiffusionSorptionSlab`,
  :class:`HeatSlab`, :class:`VorticityProblem`) behind ``experiments/hard_constraints.py``.
- Dataset recipes (:class:`Recipe`, :data:`RECIPES`) behind ``pdesolve generate`` and
  :func:`pdesolve.datasets.generate`; the combined-equation experiments E1-E3
  (:class:`CombinedRecipe`, :data:`COMBINED_RECIPES`) behind
  :func:`pdesolve.datasets.generate_combined_dataset`.
- Neural-field benchmarks (:class:`FieldProblem`: a declared PDE, box, initial condition,
  reference and network, e.g. from :class:`TENGInitialCondition`; :meth:`FieldProblem.reference` gives the error grid as a
  :class:`FieldReference`) behind ``pdesolve solve --method teng|tdvp|insr`` and
  :mod:`pdesolve.neural_fields`.
"""

from ._constraints import VORTICITY_FIELDS as VORTICITY_FIELDS
from ._constraints import ConstraintProblem as ConstraintProblem
from ._constraints import DiffusionSorptionSlab as DiffusionSorptionSlab
from ._constraints import HeatSlab as HeatSlab
from ._constraints import SlabProblem as SlabProblem
from ._constraints import VorticityProblem as VorticityProblem
from ._fields import AbstractSeparableInitialCondition as AbstractSeparableInitialCondition
from ._fields import FieldNetwork as FieldNetwork
from ._fields import FieldProblem as FieldProblem
from ._fields import FieldReference as FieldReference
from ._fields import LegacyTENGInitialCondition as LegacyTENGInitialCondition
from ._fields import TENGInitialCondition as TENGInitialCondition
from ._fields import grid_points as grid_points
from ._recipes import COMBINED_RECIPES as COMBINED_RECIPES
from ._recipes import RECIPES as RECIPES
from ._recipes import CombinedRecipe as CombinedRecipe
from ._recipes import Recipe as Recipe
from ._recipes import combined_recipe as combined_recipe
from ._recipes import get_recipe as get_recipe
from ._reference import PROBLEMS as PROBLEMS
from ._reference import Problem as Problem
from ._reference import ReferenceProblem as ReferenceProblem
from ._reference import build_problem as build_problem
from ._registry import AbstractProblem as AbstractProblem
from ._registry import get as get
from ._registry import names as names
from ._registry import register as register
from ._registry import registry as registry

__all__ = [
    "AbstractProblem",
    "AbstractSeparableInitialCondition",
    "COMBINED_RECIPES",
    "CombinedRecipe",
    "ConstraintProblem",
    "DiffusionSorptionSlab",
    "FieldNetwork",
    "FieldProblem",
    "FieldReference",
    "HeatSlab",
    "LegacyTENGInitialCondition",
    "PROBLEMS",
    "Problem",
    "RECIPES",
    "Recipe",
    "ReferenceProblem",
    "SlabProblem",
    "TENGInitialCondition",
    "VORTICITY_FIELDS",
    "VorticityProblem",
    "build_problem",
    "combined_recipe",
    "get",
    "get_recipe",
    "grid_points",
    "names",
    "register",
    "registry",
]
