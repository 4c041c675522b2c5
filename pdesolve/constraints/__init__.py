"""Hard constraints and implicit layers.

- Implicit differentiation: :func:`custom_root`, :func:`custom_fixed_point` (gradients by the
  implicit function theorem; the backward linear solve is a lineax solver object, dense
  ``lineax.LU()`` by default or matrix-free).
- Exact projections: :class:`LinearEqualityProjection`, :class:`MassProjection`,
  :class:`BoundaryValueProjection`, wrapped around a model by :class:`ConstrainedModel`.
- Divergence-free projections: :class:`LerayProjection` (spectral, periodic),
  :class:`StaggeredLerayProjection` (MAC grid with walls, CG pressure solve).
- PDE-constrained solves for basis coefficients (Négiar et al. 2023):
  :class:`LeastSquaresConstraint` (least squares, any $m$ and $N$), :class:`MinimumNormConstraint`
  (the exact minimum-norm root of an under-determined system, KKT gradients) and
  :class:`TangentConstraint` (a root reached by a least-squares solver object, minimum-norm
  tangent gradients); their mixture of experts (Chalapathi et al. 2024): :class:`MixtureOfExperts`
  (:class:`VmapExperts` or :class:`MapExperts`), and :class:`CoupledMixtureOfExperts` (experts tied
  by interface conditions, Schur-complement solve).
- Hard-constrained models: basis networks and their jets (:class:`FourierFeatureBasis`,
  :func:`basis_jet`, :class:`PeriodicStreamfunctionBasis`, :func:`vorticity_jet`,
  :class:`InitialFieldFeatures`, :class:`InitialLift`), constraint points
  (:class:`ConstraintPoints`, :func:`slab_points`, :func:`quadrant_points`, ...), the
  partition of unity (:func:`smooth_step`, :func:`periodic_window`, :func:`quadrant_windows`), and
  models (:class:`SlabModel`, :class:`QuadrantModel`) whose coefficients come from an
  :class:`ExpertLayer` or a :class:`CoupledExpertLayer`.
- Failed inner solves: a ``converged`` flag plus ``on_failure="raise" | "warn" | "ignore"``
  (:class:`ConvergenceWarning`).
"""

from ._basis import FourierFeatureBasis as FourierFeatureBasis
from ._basis import InitialFieldFeatures as InitialFieldFeatures
from ._basis import InitialLift as InitialLift
from ._basis import PeriodicStreamfunctionBasis as PeriodicStreamfunctionBasis
from ._basis import basis_jet as basis_jet
from ._basis import fourier_modes as fourier_modes
from ._basis import streamfunction_fields as streamfunction_fields
from ._basis import vorticity_jet as vorticity_jet
from ._coupled_mixture import CoupledMixtureOfExperts as CoupledMixtureOfExperts
from ._divergence_free import LerayProjection as LerayProjection
from ._divergence_free import StaggeredLerayProjection as StaggeredLerayProjection
from ._failure import ConvergenceWarning as ConvergenceWarning
from ._failure import report_failure as report_failure
from ._implicit import custom_fixed_point as custom_fixed_point
from ._implicit import custom_root as custom_root
from ._least_squares import ConstraintSolution as ConstraintSolution
from ._least_squares import LeastSquaresConstraint as LeastSquaresConstraint
from ._linear import AbstractProjection as AbstractProjection
from ._linear import BoundaryValueProjection as BoundaryValueProjection
from ._linear import ConstrainedModel as ConstrainedModel
from ._linear import LinearEqualityProjection as LinearEqualityProjection
from ._linear import MassProjection as MassProjection
from ._minimum_norm import AbstractRootConstraint as AbstractRootConstraint
from ._minimum_norm import MinimumNormConstraint as MinimumNormConstraint
from ._minimum_norm import TangentConstraint as TangentConstraint
from ._mixture import AbstractBatching as AbstractBatching
from ._mixture import MapExperts as MapExperts
from ._mixture import MixtureOfExperts as MixtureOfExperts
from ._mixture import VmapExperts as VmapExperts
from ._models import AbstractBasisModel as AbstractBasisModel
from ._models import AbstractExpertLayer as AbstractExpertLayer
from ._models import CoupledExpertLayer as CoupledExpertLayer
from ._models import ExpertLayer as ExpertLayer
from ._models import QuadrantModel as QuadrantModel
from ._models import SlabModel as SlabModel
from ._models import jump_conditions as jump_conditions
from ._partition import periodic_window as periodic_window
from ._partition import quadrant_windows as quadrant_windows
from ._partition import smooth_step as smooth_step
from ._points import ConstraintPoints as ConstraintPoints
from ._points import quadrant_interface_points as quadrant_interface_points
from ._points import quadrant_loss_points as quadrant_loss_points
from ._points import quadrant_point_counts as quadrant_point_counts
from ._points import quadrant_points as quadrant_points
from ._points import slab_interface_points as slab_interface_points
from ._points import slab_loss_points as slab_loss_points
from ._points import slab_points as slab_points

__all__ = [
    "AbstractBasisModel",
    "AbstractBatching",
    "AbstractExpertLayer",
    "AbstractProjection",
    "AbstractRootConstraint",
    "BoundaryValueProjection",
    "ConstrainedModel",
    "ConstraintPoints",
    "ConstraintSolution",
    "ConvergenceWarning",
    "CoupledExpertLayer",
    "CoupledMixtureOfExperts",
    "ExpertLayer",
    "FourierFeatureBasis",
    "InitialFieldFeatures",
    "InitialLift",
    "LeastSquaresConstraint",
    "LerayProjection",
    "LinearEqualityProjection",
    "MapExperts",
    "MassProjection",
    "MinimumNormConstraint",
    "MixtureOfExperts",
    "PeriodicStreamfunctionBasis",
    "QuadrantModel",
    "SlabModel",
    "StaggeredLerayProjection",
    "TangentConstraint",
    "VmapExperts",
    "basis_jet",
    "custom_fixed_point",
    "custom_root",
    "fourier_modes",
    "jump_conditions",
    "periodic_window",
    "quadrant_interface_points",
    "quadrant_loss_points",
    "quadrant_point_counts",
    "quadrant_points",
    "quadrant_windows",
    "report_failure",
    "slab_interface_points",
    "slab_loss_points",
    "slab_points",
    "smooth_step",
    "streamfunction_fields",
    "vorticity_jet",
]
