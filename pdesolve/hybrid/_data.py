r"""Coarse-grid trajectories for training a correction, with an evaluation that rolls out the corrected stepper."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InvalidInputError
from ..integrators import AbstractStepper
from ..metrics import correlation, high_correlation_time
from ..training import TrajectoryData
from ._loss import UnrolledLoss, _positive_int, unroll
from ._stepper import corrected


@eqx.filter_jit
def _predict(hybrid, u0s, num_frames, steps_per_frame):
    return jax.vmap(lambda u0: unroll(hybrid, u0, num_frames, steps_per_frame=steps_per_frame, checkpoint=False))(u0s)


class CorrectionData(TrajectoryData):
    r"""Filtered fine-grid trajectories on the grid of a coarse `stepper`, for training its correction.

    A :class:`~pdesolve.training.TrajectoryData` (same `source`, `splits`, `time_stride`,
    `first_frame`; frames `steps_per_frame` coarse steps apart) that knows the coarse stepper:
    :meth:`loss` is the matching :class:`UnrolledLoss`, and :meth:`evaluate` scores a trained
    correction $C_\theta$ as the stepper $S_{\Delta t} + \Delta t\,C_\theta$, rolled out from
    each trajectory's first frame (the window-to-frame evaluation of the base class does not
    apply to a correction). Train with ``config.window = 1``.

    **Arguments:** `source` (as for :class:`~pdesolve.training.TrajectoryData`), `stepper` (the
    coarse autonomous stepper; its state shape must be the frames'), `steps_per_frame`,
    `max_wavenumber` (the band $|m| \le K$ of the loss and the correlation; ``None``: all modes),
    `splits`, `time_stride`, `first_frame`, `prefetch`.
    """

    def __init__(self, source, stepper: AbstractStepper, *, steps_per_frame: int = 1,
                 max_wavenumber: float | None = None, splits: Sequence[float] = (0.8, 0.1, 0.1), time_stride: int = 1,
                 first_frame: int = 0, prefetch: int = 2):
        if not isinstance(stepper, AbstractStepper):
            raise InvalidInputError(f"stepper must be a pdesolve stepper, got {type(stepper).__name__}")
        super().__init__(source, splits=splits, time_stride=time_stride, first_frame=first_frame, prefetch=prefetch)
        state = tuple(stepper.pde.state_shape)
        if (self.num_channels,) + tuple(self.spatial_shape) != state:
            shape = (self.num_channels,) + tuple(self.spatial_shape)
            self.close()
            raise InvalidInputError(f"frames have the state shape {shape} but the stepper's states are {state}")
        self.stepper = stepper
        self.steps_per_frame = _positive_int("steps_per_frame", steps_per_frame)
        self.max_wavenumber = max_wavenumber

    def loss(self, *, checkpoint: bool = True) -> UnrolledLoss:
        """The :class:`UnrolledLoss` of these data (stepper, steps per frame, band)."""
        return UnrolledLoss(self.stepper, self.steps_per_frame, self.max_wavenumber, checkpoint)

    def check(self, config) -> None:
        """As :meth:`TrajectoryData.check`, and `config.window` must be 1 (a stepper starts from one state)."""
        if config.window != 1:
            raise InvalidInputError(f"a corrected stepper starts from one state: window must be 1, got {config.window}")
        super().check(config)

    def evaluate(self, model, split: str, config, *, figures: bool = False, out=None, name: str = "model") -> dict:
        r"""Roll out ``corrected(stepper, model)`` from each trajectory's first frame of `split`.

        Over `config.eval_rollout_steps` frames (default: all): ``rollout_rel_l2`` (mean over
        samples of $\|u - \bar u\|_2 / \|\bar u\|_2$ over the predicted frames),
        ``correlation_final`` (mean correlation at the last frame, on the band),
        ``high_correlation_time`` (mean time until the correlation drops below 0.95, in units of
        the stepper's time, :func:`~pdesolve.metrics.high_correlation_time`).
        """
        indices = self.indices[split] if split in self.indices else np.arange(self.split_size(split))
        if len(indices) == 0:
            raise InvalidInputError(f"the {split} split is empty")
        full = self.num_times - 1
        horizon = full if config.eval_rollout_steps is None else min(int(config.eval_rollout_steps), full)
        hybrid = corrected(self.stepper, model)
        grid = self.stepper.pde.grid
        times = np.arange(horizon + 1) * self.stepper.dt * self.steps_per_frame
        rel, final, hct = [], [], []
        for k in range(0, len(indices), config.eval_batch_size):
            frames = jnp.asarray(self.read(indices[k : k + config.eval_batch_size], slice(0, horizon + 1)), config.dtype)
            predicted = _predict(hybrid, frames[:, 0], horizon, self.steps_per_frame)
            truth = frames[:, 1:]
            b = truth.shape[0]
            rel.extend(np.linalg.norm(np.asarray(predicted - truth).reshape(b, -1), axis=1)
                       / np.linalg.norm(np.asarray(truth).reshape(b, -1), axis=1))
            rho = np.asarray(correlation(predicted, truth, grid, max_wavenumber=self.max_wavenumber))
            final.extend(rho[:, -1])
            hct.extend(high_correlation_time(np.concatenate([[1.0], r]), times) for r in rho)
        return {"split": split, "samples": len(indices), "rollout_steps": horizon,
                "rollout_rel_l2": float(np.mean(rel)), "correlation_final": float(np.mean(final)),
                "high_correlation_time": float(np.mean(hct))}
