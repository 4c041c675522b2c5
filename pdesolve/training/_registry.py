"""Model specs: what ``pdesolve train <model>`` needs to know about a model family.

A model family is a :class:`ModelSpec` object: a name, how to open the data, how to build the
model for those data and the run's config, its loss, and its command-line options. Each package
defines its own spec next to its model (``pdesolve.training`` has :data:`FNO_SPEC` and
:data:`UNET_SPEC`, :mod:`pdesolve.mp_pde` and :mod:`pdesolve.neural_ode` theirs), and the
command line lists the specs it offers explicitly (``pdesolve/cli/_train.py``)::

    def build(options, data, config, *, key):
        return MySolver(data.num_channels, hidden=options.get("hidden") or 128, key=key)

    def options(parser):
        parser.add_argument("--hidden", type=int, default=128)

    MY_SPEC = ModelSpec("my-solver", build, description="my solver", add_arguments=options)
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
from dataclasses import dataclass
from typing import Any

from .._errors import InvalidInputError
from ._data import AbstractTrainingData, TrajectoryData
from ._loop import TrainConfig


@dataclass(frozen=True)
class ModelSpec:
    """A trainable model family: the model, its loss and its data source, for :func:`~pdesolve.training.train`.

    **Attributes:**

    - `name`: the sub-command name (``pdesolve train <name>``), one word.
    - `build`: ``build(options, data, config, *, key) -> eqx.Module``: the model for the opened
      `data` (an :class:`~pdesolve.training.AbstractTrainingData`) and the
      :class:`~pdesolve.training.TrainConfig`. `options` maps the model's option names (those
      `add_arguments` adds) to values; ``None`` or a missing key means the model's default.
    - `description`: one line for ``--help``.
    - `add_arguments`: ``add_arguments(parser)`` adds the model's command-line options.
    - `loss`: ``loss(options, data, config) -> loss`` with ``loss(model, batch, key)`` as
      :func:`~pdesolve.training.train` takes it (``None``: the default rollout loss of
      window-to-frame models, :func:`~pdesolve.training.make_rollout_loss`).
    - `open_data`: ``open_data(path, config, options) -> AbstractTrainingData`` for an HDF5
      file (``None``: :class:`~pdesolve.training.TrajectoryData` windows).
    - `ignores`: the :class:`~pdesolve.training.TrainConfig` fields the model does not read
      (e.g. ``residual`` and ``loss`` with its own `loss`); ``pdesolve train <name>`` does not
      offer their options, so they cannot be set to no effect.
    """

    name: str
    build: Callable[..., Any]
    description: str = ""
    add_arguments: Callable[[Any], None] | None = None
    loss: Callable[..., Callable] | None = None
    open_data: Callable[..., AbstractTrainingData] | None = None
    ignores: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or any(c.isspace() for c in self.name):
            raise InvalidInputError(f"model name must be a non-empty word, got {self.name!r}")
        if not callable(self.build):
            raise InvalidInputError(f"build of model {self.name!r} must be callable")
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = [name for name in self.ignores if name not in fields]
        if unknown:
            raise InvalidInputError(f"ignores of model {self.name!r} names no TrainConfig field: {unknown}")

    def data(self, path, config, options) -> AbstractTrainingData:
        """The training data in the HDF5 file `path` for this model (see `open_data`)."""
        if self.open_data is not None:
            return self.open_data(path, config, options)
        return TrajectoryData(path, splits=config.splits, time_stride=config.time_stride,
                              first_frame=config.first_frame)

    def make_loss(self, options, data, config):
        """The loss for :func:`~pdesolve.training.train` (``None``: its default)."""
        return None if self.loss is None else self.loss(options, data, config)


def window_to_frame(build_frame: Callable[..., Any]) -> Callable[..., Any]:
    """A :attr:`ModelSpec.build` for a window-to-frame model from ``build_frame(options, *, in_channels, out_channels, ndim, key)``.

    The model sees ``config.window`` frames of :class:`~pdesolve.training.TrajectoryData`
    stacked on the channel axis (``window * channels`` in) and predicts one frame.
    """

    def build(options, data, config, *, key):
        return build_frame(options, in_channels=config.window * data.num_channels, out_channels=data.num_channels,
                           ndim=data.ndim, key=key)

    return build
