"""Deprecated: the neural solvers moved to :mod:`pdesolve.neural_fields`, :mod:`pdesolve.mp_pde` and :mod:`pdesolve.neural_ode`.

``from pdesolve.neural_solvers import X`` still works for every name it offered, with a
:class:`DeprecationWarning` naming the new home; it will be removed in pdesolve 0.3.
"""

from __future__ import annotations

import importlib
import warnings

#: Old name -> the package that holds it now.
MOVED = {
    "AbstractFieldEquation": "pdesolve.neural_fields",
    "AdvectionField": "pdesolve.neural_fields",
    "AllenCahnField": "pdesolve.neural_fields",
    "BurgersField": "pdesolve.neural_fields",
    "ClosureVectorField": "pdesolve.neural_ode",
    "CombinedData": "pdesolve.datasets",
    "ErrorEstimateRecorder": "pdesolve.neural_ode",
    "FieldProblem": "pdesolve.problems",
    "FourierModes": "pdesolve.neural_ode",
    "HeatField": "pdesolve.neural_fields",
    "INSR": "pdesolve.neural_fields",
    "InnerSolveWarning": "pdesolve.neural_fields",
    "MLPVectorField": "pdesolve.neural_ode",
    "MPPDE": "pdesolve.mp_pde",
    "MarchResult": "pdesolve.neural_fields",
    "MessagePassingLayer": "pdesolve.mp_pde",
    "NeuralODE": "pdesolve.neural_ode",
    "NonFiniteLossError": "pdesolve.training",
    "OBTI": "pdesolve.neural_fields",
    "PeriodicConvCorrection": "pdesolve.neural_ode",
    "PeriodicMLP": "pdesolve.neural_fields",
    "RadiusGraph": "pdesolve.mp_pde",
    "Siren": "pdesolve.neural_fields",
    "SolveStats": "pdesolve.neural_ode",
    "SpaceTimeMLP": "pdesolve.neural_fields",
    "TENG": "pdesolve.neural_fields",
    "default_steps_per_save": "pdesolve.datasets",
    "evaluate_rollouts": "pdesolve.neural_ode",
    "fit_initial_condition": "pdesolve.neural_fields",
    "fit_mp_pde": "pdesolve.mp_pde",
    "fit_network": "pdesolve.neural_fields",
    "fit_neural_ode": "pdesolve.neural_ode",
    "function_evaluations": "pdesolve.neural_ode",
    "generate_combined_dataset": "pdesolve.datasets",
    "grid_advection_crank_nicolson": "pdesolve.neural_fields",
    "grid_points": "pdesolve.problems",
    "insr_taylor_green": "pdesolve.neural_fields",
    "load_combined_dataset": "pdesolve.datasets",
    "march": "pdesolve.neural_fields",
    "parameter_count": "pdesolve.neural_fields",
    "pointwise_jacobian": "pdesolve.linalg",
    "project_onto_target": "pdesolve.neural_fields",
    "radius_graph": "pdesolve.mp_pde",
    "rollout_mp_pde": "pdesolve.mp_pde",
    "solve_combined_batch": "pdesolve.datasets",
    "stiffness_estimate": "pdesolve.neural_ode",
    "supports_stiffness_estimate": "pdesolve.neural_ode",
}


#: Old names with no drop-in replacement -> what to use instead.
REPLACED = {
    "TENG_PROBLEMS": 'pdesolve.problems.names(pdesolve.problems.FieldProblem)',
    "advection_pulse": 'pdesolve.problems.get("insr-advection").exact_values(points, t)',
    "heat_exact": 'pdesolve.problems.get("teng-heat").exact_values(points, t)',
    "tdvp_solve": 'pdesolve.neural_fields.TDVP(...).solve(net, num_steps)',
    "teng_initial_condition": 'pdesolve.problems.get("teng-heat").initial_values(points)',
    "teng_problem": 'pdesolve.problems.get("teng-<name>", pdesolve.problems.FieldProblem)',
    "train_pinn": 'pdesolve.neural_fields.PINN(...).solve(net, num_steps)',
}


def __getattr__(name: str):
    if name in REPLACED:
        raise AttributeError(f"pdesolve.neural_solvers.{name} was removed; use {REPLACED[name]}")
    if name not in MOVED:
        raise AttributeError(f"module 'pdesolve.neural_solvers' has no attribute {name!r}")
    warnings.warn(f"pdesolve.neural_solvers.{name} moved to {MOVED[name]}.{name}; import it from there",
                  DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(MOVED[name]), name)


def __dir__():
    return sorted(MOVED)
