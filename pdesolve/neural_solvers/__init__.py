"""Neural PDE solvers.

- Neural-field solvers, whose state is a network's weights: TENG, INSR, and the TDVP /
  optimisation-based / PINN baselines.
- Message-passing neural PDE solver (MP-PDE).
- Neural ODEs with a choice of adjoint.

Each solver lives in its own private module and is re-exported here.
"""

from ._neural_ode import ADJOINTS as ADJOINTS
from ._neural_ode import ErrorEstimateRecorder as ErrorEstimateRecorder
from ._neural_ode import MLPVectorField as MLPVectorField
from ._neural_ode import NeuralODE as NeuralODE
from ._neural_ode import SolveStats as SolveStats
from ._neural_ode import function_evaluations as function_evaluations
from ._neural_ode import make_adjoint as make_adjoint
from ._neural_ode import stiffness_estimate as stiffness_estimate
from ._neural_ode import supports_stiffness_estimate as supports_stiffness_estimate
from ._closure import ClosureVectorField as ClosureVectorField
from ._closure import PeriodicConvCorrection as PeriodicConvCorrection
from ._fourier_reduction import FourierModes as FourierModes
from .._errors import NonFiniteLossError as NonFiniteLossError
from ._neural_ode_training import evaluate_rollouts as evaluate_rollouts
from ._neural_ode_training import fit_neural_ode as fit_neural_ode
from ._mp_pde import MPPDE as MPPDE
from ._mp_pde import MessagePassingLayer as MessagePassingLayer
from ._mp_pde import RadiusGraph as RadiusGraph
from ._mp_pde import fit_mp_pde as fit_mp_pde
from ._mp_pde import radius_graph as radius_graph
from ._mp_pde import rollout_mp_pde as rollout_mp_pde
from ._mp_pde_data import CombinedData as CombinedData
from ._mp_pde_data import default_steps_per_save as default_steps_per_save
from ._mp_pde_data import generate_combined_dataset as generate_combined_dataset
from ._mp_pde_data import load_combined_dataset as load_combined_dataset
from ._mp_pde_data import solve_combined_batch as solve_combined_batch
# --- neural-field solvers (TENG, INSR) and their baselines ---
from ._field_equations import AbstractFieldEquation as AbstractFieldEquation
from ._field_equations import AdvectionField as AdvectionField
from ._field_equations import AllenCahnField as AllenCahnField
from ._field_equations import BurgersField as BurgersField
from ._field_equations import HeatField as HeatField
from ._field_networks import PeriodicMLP as PeriodicMLP
from ._field_networks import Siren as Siren
from ._field_networks import parameter_count as parameter_count
from ._field_problems import TENG_PROBLEMS as TENG_PROBLEMS
from ._field_problems import FieldProblem as FieldProblem
from ._field_problems import grid_points as grid_points
from ._field_problems import heat_exact as heat_exact
from ._field_problems import teng_initial_condition as teng_initial_condition
from ._field_problems import teng_problem as teng_problem
from ._insr import INSR as INSR
from ._insr import advection_pulse as advection_pulse
from ._insr import fit_network as fit_network
from ._insr import grid_advection_crank_nicolson as grid_advection_crank_nicolson
from ._insr import insr_taylor_green as insr_taylor_green
from ._pointwise_jacobian import pointwise_jacobian as pointwise_jacobian
from ._marching import InnerSolveWarning as InnerSolveWarning
from ._marching import MarchResult as MarchResult
from ._marching import march as march
from ._obti import OBTI as OBTI
from ._pinn import SpaceTimeMLP as SpaceTimeMLP
from ._pinn import train_pinn as train_pinn
from ._tdvp import tdvp_solve as tdvp_solve
from ._teng import TENG as TENG
from ._teng import fit_initial_condition as fit_initial_condition
from ._teng import project_onto_target as project_onto_target

__all__ = [
    "ADJOINTS",
    "AbstractFieldEquation",
    "AdvectionField",
    "AllenCahnField",
    "BurgersField",
    "ClosureVectorField",
    "CombinedData",
    "ErrorEstimateRecorder",
    "FieldProblem",
    "FourierModes",
    "HeatField",
    "INSR",
    "InnerSolveWarning",
    "MLPVectorField",
    "MPPDE",
    "MarchResult",
    "MessagePassingLayer",
    "NeuralODE",
    "NonFiniteLossError",
    "OBTI",
    "PeriodicConvCorrection",
    "PeriodicMLP",
    "RadiusGraph",
    "Siren",
    "SolveStats",
    "SpaceTimeMLP",
    "TENG",
    "TENG_PROBLEMS",
    "advection_pulse",
    "evaluate_rollouts",
    "fit_initial_condition",
    "fit_mp_pde",
    "fit_network",
    "fit_neural_ode",
    "function_evaluations",
    "stiffness_estimate",
    "supports_stiffness_estimate",
    "default_steps_per_save",
    "generate_combined_dataset",
    "grid_advection_crank_nicolson",
    "grid_points",
    "heat_exact",
    "insr_taylor_green",
    "load_combined_dataset",
    "make_adjoint",
    "march",
    "parameter_count",
    "pointwise_jacobian",
    "project_onto_target",
    "radius_graph",
    "rollout_mp_pde",
    "solve_combined_batch",
    "tdvp_solve",
    "teng_initial_condition",
    "teng_problem",
    "train_pinn",
]
