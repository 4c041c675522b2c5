r"""``pdesolve train hybrid``: a learned correction of the coarse Navier-Stokes solver, trained through the solver.

The data are a 2D Navier-Stokes file of ``pdesolve generate`` (``ns-kolmogorov``, ``ns-fno``:
fine-grid solves truncated to the file's resolution $n$). The coarse stepper is
:class:`~pdesolve.integrators.ETDRK4` on :class:`~pdesolve.pdes.NavierStokes2D` with the file's
viscosity, drag and forcing on the $n$-point grid, with $\Delta t$ = (time between the frames
used) / ``--steps-per-frame``. The model is a :class:`~pdesolve.neural_ode.PeriodicConvCorrection`
(``--correction conv``) or a :class:`~pdesolve.hybrid.VorticityFluxCorrection` (``--correction flux``),
and the loss :class:`~pdesolve.hybrid.UnrolledLoss` over ``--rollout-steps`` frames (1: one-step
training on precomputed pairs). Validation and test roll the corrected stepper out
(:class:`~pdesolve.hybrid.CorrectionData`).
"""

from __future__ import annotations

import math

import numpy as np

from .._errors import InvalidInputError
from ..integrators import ETDRK4
from ..neural_ode import PeriodicConvCorrection
from ..pdes import NavierStokes2D, fno_forcing, kolmogorov_forcing
from ..spatial import PeriodicGrid
from ..training import ModelSpec, TrajectoryData
from ._data import CorrectionData
from ._flux import VorticityFluxCorrection

CORRECTIONS = ("conv", "flux")
DEFAULTS = {"correction": "conv", "width": 32, "depth": 2, "kernel_size": 3, "steps_per_frame": 1,
            "loss_max_wavenumber": None, "scale": None}


def _options(options) -> dict:
    unknown = sorted(k for k, v in options.items() if k not in DEFAULTS and v is not None)
    if unknown:
        raise InvalidInputError(f"unknown hybrid option {unknown[0]!r}; allowed: {', '.join(DEFAULTS)}")
    o = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    if o["correction"] not in CORRECTIONS:
        raise InvalidInputError(f"correction must be one of {', '.join(CORRECTIONS)}, got {o['correction']!r}")
    return o


def coarse_stepper(attrs: dict, resolution: int, dt: float, dtype) -> ETDRK4:
    """ETDRK4 on the Navier-Stokes problem the attributes of a generated file describe, on `resolution` points."""
    if attrs.get("pde") != "navier-stokes":
        raise InvalidInputError(f"hybrid trains on 2D Navier-Stokes files (ns-kolmogorov, ns-fno), got pde = "
                                f"{attrs.get('pde')!r}")
    grid = PeriodicGrid(resolution, extent=float(attrs.get("extent", 2 * math.pi)), ndim=2, dtype=dtype)
    if attrs.get("forcing") == "fno":
        forcing = fno_forcing(grid)
    else:
        forcing = kolmogorov_forcing(grid, int(attrs["forcing_wavenumber"]), float(attrs["forcing_amplitude"]))
    pde = NavierStokes2D(grid, viscosity=float(attrs["nu"]), drag=float(attrs.get("drag", 0.0)), forcing=forcing)
    return ETDRK4(pde, dt)


def _open_data(path, config, options) -> CorrectionData:
    o = _options(options)
    with TrajectoryData(path, splits=config.splits, time_stride=config.time_stride,
                        first_frame=config.first_frame) as probe:
        attrs = dict(probe.dataset.attrs)
        shape, times = probe.spatial_shape, np.asarray(probe.times)
    if len(shape) != 2 or shape[0] != shape[1] or len(times) < 2:
        raise InvalidInputError(f"hybrid needs square 2D frames and at least 2 times, got {shape} and {len(times)} times")
    dt = float(times[1] - times[0]) / int(o["steps_per_frame"])
    stepper = coarse_stepper(attrs, shape[0], dt, np.dtype(config.dtype))
    return CorrectionData(path, stepper, steps_per_frame=int(o["steps_per_frame"]),
                          max_wavenumber=o["loss_max_wavenumber"], splits=config.splits,
                          time_stride=config.time_stride, first_frame=config.first_frame)


def _build(options, data: CorrectionData, config, *, key) -> PeriodicConvCorrection | VorticityFluxCorrection:
    o = _options(options)

    def sample():  # the first frames of (up to) 8 training trajectories
        return data.read(data.indices["train"][:8], slice(0, 1))[:, 0]

    if o["correction"] == "flux":
        if data.num_channels != 1:
            raise InvalidInputError(f"--correction flux needs vorticity data (1 channel), got {data.num_channels}")
        grid = data.stepper.pde.grid
        scales = VorticityFluxCorrection.feature_scales(sample().astype(grid.dtype), grid)
        return VorticityFluxCorrection(grid, int(o["width"]), int(o["depth"]), int(o["kernel_size"]), key=key,
                                       scales=tuple(s or 1.0 for s in scales))
    scale = o["scale"]
    if scale is None:  # the rms of those frames
        scale = float(np.sqrt(np.mean(np.square(sample(), dtype=np.float64)))) or 1.0
    return PeriodicConvCorrection(data.num_channels, 2, width=int(o["width"]), depth=int(o["depth"]),
                                  kernel_size=int(o["kernel_size"]), key=key, scale=float(scale))


def _loss(options, data: CorrectionData, config):
    return data.loss()


def _arguments(parser) -> None:
    d = DEFAULTS
    parser.add_argument("--correction", choices=CORRECTIONS, default=d["correction"],
                        help="conv: a periodic CNN forcing; flux: the divergence of a learned subgrid flux of "
                             "vorticity from vorticity, velocity and its gradient (conv)")
    parser.add_argument("--width", type=int, default=d["width"], help="hidden channels of the correction (32)")
    parser.add_argument("--depth", type=int, default=d["depth"], help="hidden layers of the correction (2)")
    parser.add_argument("--kernel-size", type=int, default=d["kernel_size"], help="convolution width (3)")
    parser.add_argument("--steps-per-frame", type=int, default=d["steps_per_frame"],
                        help="coarse solver steps between saved frames (1)")
    parser.add_argument("--loss-max-wavenumber", type=float, default=None,
                        help="compare only Fourier modes |m| <= K in the loss and scores (default: all)")
    parser.add_argument("--scale", type=float, default=None,
                        help="input scale of the correction (default: rms vorticity of the training data)")


#: ``pdesolve train hybrid``: a correction of the coarse Navier-Stokes solver trained through it
#: (``--rollout-steps`` unrolled solver steps per sample; ``--window`` must be 1).
HYBRID_SPEC = ModelSpec(
    "hybrid", _build, add_arguments=_arguments, loss=_loss, open_data=_open_data,
    description="learned correction of the coarse ETDRK4 Navier-Stokes solver, trained through the solver",
    ignores=("residual", "loss"),  # UnrolledLoss is its own loss
)
