r"""Neural-field PDE solvers: the state is a network's weights $\theta$, $u(x, t) = u_{\theta(t)}(x)$.

- Time steppers under :class:`AbstractFieldSolver` (``step(net, key)``, ``solve(net, num_steps)``
  returning a :class:`MarchResult`): :class:`TENG` (time-evolving natural gradient, Chen et al.
  2024), :class:`OBTI` (optimisation-based time integration), :class:`INSR` (implicit neural
  spatial representations, Chen et al. 2023) and :class:`TDVP` (Neural Galerkin: an ODE in
  $\theta$ integrated with Diffrax). :class:`PINN` trains a space-time network and reports the
  same :class:`MarchResult`.
- Algorithm choices are objects: explicit schemes :class:`Euler`, :class:`Heun` (TENG, OBTI);
  implicit schemes :class:`ImplicitEuler`, :class:`ImplicitMidpoint` (INSR); the TENG
  projection's :class:`PointwiseJacobian` or :class:`JVPJacobian`; INSR's
  :class:`LeastSquaresFinish`; TDVP takes Diffrax solver and step-size controller objects.
- Field equations $\partial_t u = \mathcal{N}[u]$ evaluated on networks by automatic
  differentiation: :class:`HeatField`, :class:`AllenCahnField`, :class:`BurgersField`,
  :class:`AdvectionField`; :func:`field_equation` derives one from a registered
  :class:`pdesolve.problems.FieldProblem`.
- Named TENG configurations (:class:`TENGConfig`, :func:`teng_config`: ``cpu``, ``paper``).
- Field networks: :class:`TENGNetwork` (the TENG network), :class:`PeriodicMLP`, :class:`Siren`; :func:`build_network` builds the one a
  problem declares. Fitted TENG networks ship as small ``.npz`` files:
  :func:`load_fitted_network` (e.g. ``"teng_initial_cpu"``, the paper's initial condition),
  :func:`save_fitted_network`.

The benchmark problems (``teng-heat``, ``teng-allen-cahn``, ``teng-burgers``,
``insr-advection``, ``insr-heat``) live in the registry, :mod:`pdesolve.problems`.
"""

from ._base import AbstractFieldSolver as AbstractFieldSolver
from ._configs import TENG_CONFIGS as TENG_CONFIGS
from ._configs import TENGConfig as TENGConfig
from ._configs import teng_config as teng_config
from ._equations import AbstractFieldEquation as AbstractFieldEquation
from ._equations import AdvectionField as AdvectionField
from ._equations import AllenCahnField as AllenCahnField
from ._equations import BurgersField as BurgersField
from ._equations import HeatField as HeatField
from ._equations import field_equation as field_equation
from ._equations import laplacian as laplacian
from ._fitted import load_fitted_network as load_fitted_network
from ._fitted import save_fitted_network as save_fitted_network
from ._insr import INSR as INSR
from ._insr import LeastSquaresFinish as LeastSquaresFinish
from ._insr import fit_network as fit_network
from ._insr import grid_advection_crank_nicolson as grid_advection_crank_nicolson
from ._insr import insr_taylor_green as insr_taylor_green
from ._marching import InnerSolveWarning as InnerSolveWarning
from ._marching import MarchResult as MarchResult
from ._marching import march as march
from ._networks import PeriodicMLP as PeriodicMLP
from ._networks import Siren as Siren
from ._networks import TENGNetwork as TENGNetwork
from ._networks import build_network as build_network
from ._networks import parameter_count as parameter_count
from ._obti import OBTI as OBTI
from ._pinn import PINN as PINN
from ._pinn import SpaceTimeField as SpaceTimeField
from ._pinn import SpaceTimeMLP as SpaceTimeMLP
from ._projection import DEFAULT_DAMPING as DEFAULT_DAMPING
from ._projection import AbstractTangentJacobian as AbstractTangentJacobian
from ._projection import JVPJacobian as JVPJacobian
from ._projection import PointwiseJacobian as PointwiseJacobian
from ._projection import project_onto_target as project_onto_target
from ._schemes import AbstractExplicitScheme as AbstractExplicitScheme
from ._schemes import AbstractImplicitScheme as AbstractImplicitScheme
from ._schemes import Euler as Euler
from ._schemes import Heun as Heun
from ._schemes import ImplicitEuler as ImplicitEuler
from ._schemes import ImplicitMidpoint as ImplicitMidpoint
from ._tdvp import TDVP as TDVP
from ._teng import TENG as TENG
from ._teng import fit_initial_condition as fit_initial_condition

__all__ = [
    "AbstractExplicitScheme",
    "AbstractFieldEquation",
    "AbstractFieldSolver",
    "AbstractImplicitScheme",
    "AbstractTangentJacobian",
    "AdvectionField",
    "AllenCahnField",
    "BurgersField",
    "DEFAULT_DAMPING",
    "Euler",
    "HeatField",
    "Heun",
    "INSR",
    "ImplicitEuler",
    "ImplicitMidpoint",
    "InnerSolveWarning",
    "JVPJacobian",
    "LeastSquaresFinish",
    "MarchResult",
    "OBTI",
    "PINN",
    "PeriodicMLP",
    "PointwiseJacobian",
    "Siren",
    "SpaceTimeField",
    "SpaceTimeMLP",
    "TDVP",
    "TENG",
    "TENGConfig",
    "TENGNetwork",
    "TENG_CONFIGS",
    "build_network",
    "field_equation",
    "fit_initial_condition",
    "fit_network",
    "grid_advection_crank_nicolson",
    "insr_taylor_green",
    "laplacian",
    "load_fitted_network",
    "march",
    "parameter_count",
    "project_onto_target",
    "save_fitted_network",
    "teng_config",
]
