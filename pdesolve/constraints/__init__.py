"""Hard constraints and implicit layers.

- Implicit differentiation: :func:`custom_root`, :func:`custom_fixed_point` (gradients by the
  implicit function theorem; dense or matrix-free lineax linear solves).
- Exact projections: :class:`LinearEqualityProjection`, :class:`MassProjection`,
  :class:`BoundaryValueProjection`, wrapped around a model by :class:`ConstrainedModel`.
- Divergence-free projections: :class:`LerayProjection` (spectral, periodic),
  :class:`StaggeredLerayProjection` (MAC grid with walls, CG pressure solve).
- PDE-constrained least squares (Négiar et al. 2023): :class:`LeastSquaresConstraint`, and its
  mixture of experts (Chalapathi et al. 2024): :class:`MixtureOfExperts`, and
  :class:`CoupledMixtureOfExperts` (experts tied by interface conditions, Schur-complement solve);
  :class:`MinimumNormConstraint` for under-determined systems (exact, minimum-norm).
- Failed inner solves: a ``converged`` flag plus ``on_failure="raise" | "warn" | "ignore"``
  (:class:`ConvergenceWarning`).
"""

from ._coupled_mixture import CoupledMixtureOfExperts as CoupledMixtureOfExperts
from ._divergence_free import LerayProjection as LerayProjection
from ._divergence_free import StaggeredLerayProjection as StaggeredLerayProjection
from ._failure import ConvergenceWarning as ConvergenceWarning
from ._failure import report_failure as report_failure
from ._implicit import custom_fixed_point as custom_fixed_point
from ._implicit import custom_root as custom_root
from ._implicit import make_linear_solver as make_linear_solver
from ._least_squares import ConstraintSolution as ConstraintSolution
from ._least_squares import LeastSquaresConstraint as LeastSquaresConstraint
from ._linear import AbstractProjection as AbstractProjection
from ._linear import BoundaryValueProjection as BoundaryValueProjection
from ._linear import ConstrainedModel as ConstrainedModel
from ._linear import LinearEqualityProjection as LinearEqualityProjection
from ._linear import MassProjection as MassProjection
from ._minimum_norm import MinimumNormConstraint as MinimumNormConstraint
from ._mixture import MixtureOfExperts as MixtureOfExperts

__all__ = [
    "AbstractProjection",
    "BoundaryValueProjection",
    "ConstrainedModel",
    "CoupledMixtureOfExperts",
    "ConstraintSolution",
    "ConvergenceWarning",
    "LeastSquaresConstraint",
    "LerayProjection",
    "LinearEqualityProjection",
    "MassProjection",
    "MinimumNormConstraint",
    "MixtureOfExperts",
    "StaggeredLerayProjection",
    "custom_fixed_point",
    "custom_root",
    "make_linear_solver",
    "report_failure",
]
