r"""Training neural PDE surrogates: the one training loop of pdesolve, its data sources and model specs.

- :func:`train` with a :class:`TrainConfig`: any optimizer of :mod:`pdesolve.optim` (or an
  optax transformation) with a learning-rate schedule (constant, step, milestones, cosine,
  warm-up cosine); a pluggable loss ``loss(model, batch, key) -> scalar`` or ``(scalar, aux)``;
  an atomic checkpoint per epoch (and every `checkpoint_every` steps) and exact ``resume``; a
  NaN/Inf loss stops with :class:`~pdesolve.training.NonFiniteLossError` naming the step and
  keeps the last parameters that gave a finite loss; data parallelism over ``config.devices``
  devices (``jax.sharding``: the batch is sharded over a 1D mesh, parameters are replicated).
- :func:`train_step`: one compiled step of that loop (for benchmarks and custom loops).
- :class:`AbstractTrainingData`: what the loop reads (epoch batches, split sizes, evaluation).
  :class:`TrajectoryData` implements it for window-to-frame surrogates: trajectories
  ``[sample, t, c, *space]`` from a numpy array or an HDF5 file (pdesolve or PDEBench layout,
  streamed by :class:`pdesolve.datasets.DataLoader`), batched as windows ``(inputs, targets)``.
  MP-PDE (:mod:`pdesolve.mp_pde`) and neural ODEs (:mod:`pdesolve.neural_ode`) bring theirs.
- :func:`evaluate`: rollout relative $L^2$ (FNO convention), nRMSE (PDEBench and exponax
  conventions) and one-step error on a split.
- :class:`ModelSpec`: a model family for ``pdesolve train <model>``; :data:`FNO_SPEC` and
  :data:`UNET_SPEC` are built in, :func:`build_model` builds either.
"""

from .._errors import NonFiniteLossError as NonFiniteLossError
from ._checkpoint import load_checkpoint as load_checkpoint
from ._checkpoint import read_checkpoint_header as read_checkpoint_header
from ._checkpoint import save_checkpoint as save_checkpoint
from ._data import AbstractTrainingData as AbstractTrainingData
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
from ._loop import train_step as train_step
from ._models import FNO_SPEC as FNO_SPEC
from ._models import UNET_SPEC as UNET_SPEC
from ._models import build_model as build_model
from ._registry import ModelSpec as ModelSpec
from ._registry import window_to_frame as window_to_frame
from ._steps import make_rollout_loss as make_rollout_loss
from ._steps import predict_next as predict_next
from ._steps import rollout_model as rollout_model

__all__ = [
    "AbstractTrainingData",
    "FNO_SPEC",
    "ModelSpec",
    "NonFiniteLossError",
    "SCHEDULES",
    "TrainConfig",
    "TrainResult",
    "TrajectoryData",
    "UNET_SPEC",
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
    "rollout_model",
    "save_checkpoint",
    "train",
    "train_step",
    "window_to_frame",
]
