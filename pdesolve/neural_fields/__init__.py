r"""Neural-field PDE solvers: the state is a network's weights $\theta$, $u(x, t) = u_{\theta(t)}(x)$.

- Solvers: :class:`TENG` (time-evolving natural gradient, Chen et al. 2024), :class:`INSR`
  (implicit neural spatial representations, Chen et al. 2023), the :class:`OBTI`
  (optimisation-based time integration), TDVP (:func:`tdvp_solve`, Neural Galerkin; an ODE in
  $\theta$ integrated with Diffrax) and PINN (:func:`train_pinn`) baselines. Marching solvers
  report a :class:`MarchResult`.
- Field equations $\partial_t u = \mathcal{N}[u]$ evaluated on networks by automatic
  differentiation: :class:`HeatField`, :class:`AllenCahnField`, :class:`BurgersField`,
  :class:`AdvectionField`.
- Field networks: :class:`PeriodicMLP`, :class:`Siren`.
- The TENG benchmark problems and their references: :func:`teng_problem`.
"""


from ._equations import AbstractFieldEquation as AbstractFieldEquation
from ._equations import AdvectionField as AdvectionField
from ._equations import AllenCahnField as AllenCahnField
from ._equations import BurgersField as BurgersField
from ._equations import HeatField as HeatField
from ._insr import INSR as INSR
from ._insr import advection_pulse as advection_pulse
from ._insr import fit_network as fit_network
from ._insr import grid_advection_crank_nicolson as grid_advection_crank_nicolson
from ._insr import insr_taylor_green as insr_taylor_green
from ._marching import InnerSolveWarning as InnerSolveWarning
from ._marching import MarchResult as MarchResult
from ._marching import march as march
from ._networks import PeriodicMLP as PeriodicMLP
from ._networks import Siren as Siren
from ._networks import parameter_count as parameter_count
from ._obti import OBTI as OBTI
from ._pinn import SpaceTimeMLP as SpaceTimeMLP
from ._pinn import train_pinn as train_pinn
from ._problems import FieldProblem as FieldProblem
from ._problems import TENG_PROBLEMS as TENG_PROBLEMS
from ._problems import grid_points as grid_points
from ._problems import heat_exact as heat_exact
from ._problems import teng_initial_condition as teng_initial_condition
from ._problems import teng_problem as teng_problem
from ._tdvp import tdvp_solve as tdvp_solve
from ._teng import TENG as TENG
from ._teng import fit_initial_condition as fit_initial_condition
from ._teng import project_onto_target as project_onto_target

__all__ = [
    "AbstractFieldEquation",
    "AdvectionField",
    "AllenCahnField",
    "BurgersField",
    "FieldProblem",
    "HeatField",
    "INSR",
    "InnerSolveWarning",
    "MarchResult",
    "OBTI",
    "PeriodicMLP",
    "Siren",
    "SpaceTimeMLP",
    "TENG",
    "TENG_PROBLEMS",
    "advection_pulse",
    "fit_initial_condition",
    "fit_network",
    "grid_advection_crank_nicolson",
    "grid_points",
    "heat_exact",
    "insr_taylor_green",
    "march",
    "parameter_count",
    "project_onto_target",
    "tdvp_solve",
    "teng_initial_condition",
    "teng_problem",
    "train_pinn",
]
