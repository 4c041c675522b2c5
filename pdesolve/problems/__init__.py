"""The problem registry: every named problem pdesolve ships, declared once.

- :func:`get`, :func:`names`, :func:`register`, :func:`registry` over :class:`AbstractProblem` s.
- Reference problems (:class:`ReferenceProblem`, built by :func:`build_problem` into a
  :class:`Problem`: a PDE, an initial condition and a time step) behind ``pdesolve solve``.
- Hard-constraint benchmarks (:class:`ConstraintProblem`: :class:`DiffusionSorptionSlab`,
  :class:`HeatSlab`, :class:`VorticityProblem`) behind ``experiments/hard_constraints.py``.
- Dataset recipes (:class:`Recipe`, :data:`RECIPES`) behind ``pdesolve generate`` and
  :func:`pdesolve.datasets.generate`.
"""

from ._constraints import VORTICITY_FIELDS as VORTICITY_FIELDS
from ._constraints import ConstraintProblem as ConstraintProblem
from ._constraints import DiffusionSorptionSlab as DiffusionSorptionSlab
from ._constraints import HeatSlab as HeatSlab
from ._constraints import SlabProblem as SlabProblem
from ._constraints import VorticityProblem as VorticityProblem
from ._recipes import RECIPES as RECIPES
from ._recipes import Recipe as Recipe
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
    "ConstraintProblem",
    "DiffusionSorptionSlab",
    "HeatSlab",
    "PROBLEMS",
    "Problem",
    "RECIPES",
    "Recipe",
    "ReferenceProblem",
    "SlabProblem",
    "VORTICITY_FIELDS",
    "VorticityProblem",
    "build_problem",
    "get",
    "get_recipe",
    "names",
    "register",
    "registry",
]
