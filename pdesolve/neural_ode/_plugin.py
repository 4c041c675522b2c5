r"""``pdesolve train neural-ode``: a neural ODE on the trajectories of an HDF5 file, in :func:`pdesolve.training.train`.

The model (:data:`NEURAL_ODE_SPEC`) is a :class:`~pdesolve.neural_ode.NeuralODE` with the
vector field

$$
\partial_t u = F_{\text{ref}}(u) + \mathcal{C}_\theta(u),
$$

where $\mathcal{C}_\theta$ is a :class:`~pdesolve.neural_ode.PeriodicConvCorrection` and
$F_{\text{ref}}$ is a coarse reference PDE on the data's grid (``heat``, ``burgers``; the
closure use case, :class:`~pdesolve.neural_ode.ClosureVectorField`) or zero (``none``; purely
data-driven). It trains as :func:`~pdesolve.neural_ode.fit_neural_ode` does: on
:class:`~pdesolve.neural_ode.TrajectoryWindows` of ``--rollout-steps`` + 1 saved frames with
:class:`~pdesolve.neural_ode.NeuralODELoss` (``--loss``), optionally regularised. This module is
the command-line boundary where option names become objects: ``--adjoint`` names a Diffrax
adjoint, ``--regulariser`` a solver-heuristic regulariser.
"""

from __future__ import annotations

import math

import diffrax
import equinox as eqx
import numpy as np

from .._errors import InvalidInputError
from ..pdes import Burgers, Heat
from ..spatial import PeriodicGrid
from ..training import ModelSpec, TrajectoryData
from ._closure import ClosureVectorField, PeriodicConvCorrection
from ._model import NeuralODE
from ._regularisers import GlobalErrorRegulariser, LocalErrorRegulariser
from ._training import NeuralODELoss, TrajectoryWindows

#: ``--adjoint`` names.
ADJOINT_NAMES = {
    "recursive-checkpoint": diffrax.RecursiveCheckpointAdjoint,
    "backsolve": diffrax.BacksolveAdjoint,
    "direct": diffrax.DirectAdjoint,
}
#: ``--regulariser`` names (``none``: no regulariser).
REGULARISER_NAMES = {"global": GlobalErrorRegulariser, "local": LocalErrorRegulariser}
REFERENCES = {"heat": Heat, "burgers": Burgers}
DEFAULTS = {
    "reference": "none", "viscosity": 0.01, "extent": 2 * math.pi, "frame_dt": None, "ode_width": 32,
    "ode_depth": 2, "kernel_size": 5, "adjoint": "recursive-checkpoint", "rtol": 1e-4, "atol": 1e-6,
    "max_steps": 1024, "regulariser": "none", "regularisation_weight": 1e-3, "stiffness_weight": 0.0,
}


class _LearnedField(eqx.Module):
    r"""$f(t, u) = \mathcal{C}_\theta(u)$: the correction alone (no reference PDE)."""

    correction: PeriodicConvCorrection

    def __call__(self, t, u, args=None):
        return self.correction(u)


def _options(options) -> dict:
    unknown = sorted(k for k, v in options.items() if k not in DEFAULTS and v is not None)
    if unknown:
        raise InvalidInputError(f"unknown neural-ode option {unknown[0]!r}; allowed: {', '.join(DEFAULTS)}")
    o = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    if o["reference"] not in ("none", *REFERENCES):
        raise InvalidInputError(f"reference must be one of none, {', '.join(REFERENCES)}, got {o['reference']!r}")
    if o["adjoint"] not in ADJOINT_NAMES:
        raise InvalidInputError(f"unknown adjoint {o['adjoint']!r}; choose from {', '.join(ADJOINT_NAMES)}")
    if o["regulariser"] not in ("none", *REGULARISER_NAMES):
        raise InvalidInputError(f"regulariser must be none, global or local, got {o['regulariser']!r}")
    for name in ("viscosity", "extent") + (() if o["frame_dt"] is None else ("frame_dt",)):
        value = float(o[name])
        if not (math.isfinite(value) and (value > 0 or (name == "viscosity" and value == 0))):
            raise InvalidInputError(f"{name.replace('_', '-')} must be positive and finite, got {o[name]!r}")
    return o


def _regulariser(o: dict):
    if o["regulariser"] == "none":
        return None
    return REGULARISER_NAMES[o["regulariser"]](o["regularisation_weight"], o["stiffness_weight"])


def _open_data(path, config, options) -> TrajectoryWindows:
    o = _options(options)
    with TrajectoryData(path, splits=config.splits, time_stride=config.time_stride,
                        first_frame=config.first_frame) as source:
        fields = source.read(range(source.num_samples))
        times = np.asarray(source.times, dtype=np.float64)
    if o["frame_dt"] is not None:
        times = times[0] + float(o["frame_dt"]) * np.arange(len(times))
    return TrajectoryWindows(fields, times, splits=config.splits)


def _build(options, data: TrajectoryWindows, config, *, key) -> NeuralODE:
    o = _options(options)
    channels, grid_shape = data.trajectories.shape[2], data.trajectories.shape[3:]
    if len(grid_shape) not in (1, 2):
        raise InvalidInputError(f"neural-ode trains on 1D or 2D fields [c, *space], got state shape {data.trajectories.shape[2:]}")
    correction = PeriodicConvCorrection(channels, len(grid_shape), width=o["ode_width"], depth=o["ode_depth"],
                                        kernel_size=o["kernel_size"], key=key)
    if o["reference"] == "none":
        field = _LearnedField(correction)
    else:
        grid = PeriodicGrid(grid_shape, extent=float(o["extent"]), dtype=np.dtype(config.dtype))
        pde = REFERENCES[o["reference"]](grid, float(o["viscosity"]))
        if pde.num_channels != channels:
            raise InvalidInputError(f"the {o['reference']} reference expects {pde.num_channels} channels, the data have "
                                    f"{channels}")
        field = ClosureVectorField(pde, correction)
    model = NeuralODE(field, adjoint=ADJOINT_NAMES[o["adjoint"]](), rtol=o["rtol"], atol=o["atol"],
                      max_steps=o["max_steps"])
    regulariser = _regulariser(o)
    if regulariser is not None:
        regulariser.check(model)
    return model


def _loss(options, data, config) -> NeuralODELoss:
    return NeuralODELoss(_regulariser(_options(options)), kind=config.loss)


def _arguments(parser) -> None:
    d = DEFAULTS
    parser.add_argument("--reference", choices=("none", *REFERENCES), default=d["reference"],
                        help="coarse reference PDE added to the learned field: none (data-driven), heat, burgers (none)")
    parser.add_argument("--viscosity", type=float, default=d["viscosity"], help="reference PDE viscosity (0.01)")
    parser.add_argument("--extent", type=float, default=d["extent"], help="reference PDE box side (2 pi)")
    parser.add_argument("--frame-dt", type=float, default=None,
                        help="time between saved frames (default: the dataset's t coordinate)")
    parser.add_argument("--ode-width", type=int, default=d["ode_width"], help="hidden channels of the vector field (32)")
    parser.add_argument("--ode-depth", type=int, default=d["ode_depth"], help="hidden layers of the vector field (2)")
    parser.add_argument("--kernel-size", type=int, default=d["kernel_size"], help="convolution width (5)")
    parser.add_argument("--adjoint", choices=tuple(ADJOINT_NAMES), default=d["adjoint"],
                        help="gradient method (recursive-checkpoint)")
    parser.add_argument("--rtol", type=float, default=d["rtol"], help="solver relative tolerance (1e-4)")
    parser.add_argument("--atol", type=float, default=d["atol"], help="solver absolute tolerance (1e-6)")
    parser.add_argument("--max-steps", type=int, default=d["max_steps"], help="solver steps per window at most (1024)")
    parser.add_argument("--regulariser", choices=("none", *REGULARISER_NAMES), default=d["regulariser"],
                        help="solver-heuristic regulariser (Pal et al. 2021 global / 2023 local) (none)")
    parser.add_argument("--regularisation-weight", type=float, default=d["regularisation_weight"],
                        help="weight of the regulariser's error estimate (1e-3)")
    parser.add_argument("--stiffness-weight", type=float, default=d["stiffness_weight"],
                        help="weight of the regulariser's stiffness estimate (0)")


#: ``pdesolve train neural-ode``: a closure or data-driven neural ODE trained on windows of
#: ``--rollout-steps`` + 1 frames (``--window`` must be 1).
NEURAL_ODE_SPEC = ModelSpec(
    "neural-ode", _build, add_arguments=_arguments, loss=_loss, open_data=_open_data,
    description="neural ODE (Diffrax, choice of adjoint), data-driven or closure on a coarse PDE",
    ignores=("residual", "start"),  # its own loss; windows start at random frames
)
