r"""Training neural PDE surrogates: a generic, resumable, data-parallel training loop.

- :class:`TrajectoryData`: trajectories ``[sample, t, c, *space]`` from a numpy array or an
  HDF5 file (pdesolve or PDEBench layout, streamed by :class:`pdesolve.datasets.DataLoader`),
  split into train/val/test and batched as windows ``(inputs, targets)``.
- :func:`train` with a :class:`TrainConfig`: any optimizer of :mod:`pdesolve.optim` with a
  learning-rate schedule; one-step or autoregressive rollout training; a pluggable loss
  ``loss(model, batch, key) -> scalar``; a checkpoint per epoch (atomic), exact ``resume``;
  a NaN/Inf loss stops with :class:`~pdesolve.training.NonFiniteLossError` naming the
  step; data parallelism over ``config.devices`` devices (``jax.sharding``: the batch is
  sharded over a 1D mesh, parameters are replicated).
- :func:`evaluate`: rollout relative $L^2$ (FNO convention), nRMSE (PDEBench and exponax
  conventions) and one-step error on a split.
- :func:`register_model` / :data:`MODELS`: the model families ``pdesolve train <model>``
  offers (``fno``, ``unet`` built in); see :mod:`pdesolve.training._registry` for adding one.
"""

from .._errors import NonFiniteLossError as NonFiniteLossError
from ._checkpoint import load_checkpoint as load_checkpoint
from ._checkpoint import read_checkpoint_header as read_checkpoint_header
from ._checkpoint import save_checkpoint as save_checkpoint
from ._data import TrajectoryData as TrajectoryData
from ._evaluate import evaluate as evaluate
from ._figures import plot_loss_curve as plot_loss_curve
from ._figures import plot_prediction as plot_prediction
from ._loop import SCHEDULES as SCHEDULES
from ._loop import TrainConfig as TrainConfig
from ._loop import TrainResult as TrainResult
from ._loop import cast_model as cast_model
from ._loop import descent_gradients as descent_gradients
from ._loop import make_optimizer as make_optimizer
from ._loop import make_schedule as make_schedule
from ._loop import train as train
from ._registry import MODELS as MODELS
from ._registry import PLUGIN_MODULES as PLUGIN_MODULES
from ._registry import ModelSpec as ModelSpec
from ._registry import available_models as available_models
from ._registry import build_model as build_model
from ._registry import register_model as register_model
from ._steps import make_rollout_loss as make_rollout_loss
from ._steps import predict_next as predict_next
from ._steps import rollout_model as rollout_model

__all__ = [
    "MODELS",
    "ModelSpec",
    "NonFiniteLossError",
    "PLUGIN_MODULES",
    "SCHEDULES",
    "TrainConfig",
    "TrainResult",
    "TrajectoryData",
    "available_models",
    "build_model",
    "cast_model",
    "descent_gradients",
    "evaluate",
    "load_checkpoint",
    "make_optimizer",
    "make_rollout_loss",
    "make_schedule",
    "plot_loss_curve",
    "plot_prediction",
    "predict_next",
    "read_checkpoint_header",
    "register_model",
    "rollout_model",
    "save_checkpoint",
    "train",
]
