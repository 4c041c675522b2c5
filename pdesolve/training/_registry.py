"""The registry of trainable models read by ``pdesolve train``.

A model family is a :class:`ModelSpec`: a name, a ``build`` function, optional command-line
options, and optionally its own loss. Built-in: ``fno`` and ``unet``
(:mod:`pdesolve.training._models`). Another module adds one with :func:`register_model` at
import time and makes the command line import it by appending its module name to
:data:`PLUGIN_MODULES` (or simply by being imported before :func:`available_models` runs)::

    from pdesolve.training import register_model, PLUGIN_MODULES

    def _build(options, *, in_channels, out_channels, ndim, key):
        return MyMessagePassingSolver(in_channels, out_channels, hidden=options.get("hidden", 128), key=key)

    def _options(parser):
        parser.add_argument("--hidden", type=int, default=128)

    register_model("mp-pde", _build, description="message-passing PDE solver", add_arguments=_options)

and, in ``pdesolve/training/_registry.py``'s :data:`PLUGIN_MODULES`, ``"pdesolve.mp_pde._training"``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import InvalidInputError

#: Modules imported by :func:`available_models` so that their ``register_model`` calls run.
PLUGIN_MODULES: list[str] = [
    "pdesolve.training._models",
    "pdesolve.mp_pde._training",
    "pdesolve.neural_ode._plugin",
]


@dataclass(frozen=True)
class ModelSpec:
    """A trainable model family.

    **Attributes:**

    - `name`: the sub-command name (``pdesolve train <name>``).
    - `build`: ``build(options, *, in_channels, out_channels, ndim, key) -> eqx.Module``; the
      model maps a window of frames stacked on the channel axis, ``(in_channels, *space)``,
      to the next frame ``(out_channels, *space)``. `options` is a mapping of the model's
      options (missing keys take the model's defaults).
    - `description`: one line for ``--help``.
    - `add_arguments`: ``add_arguments(parser)`` adds the model's command-line options.
    - `loss`: ``loss(config) -> (model, batch, key) -> scalar`` to replace the default
      rollout loss (``None``: :func:`~pdesolve.training.make_rollout_loss`).
    """

    name: str
    build: Callable[..., Any]
    description: str = ""
    add_arguments: Callable[[Any], None] | None = None
    loss: Callable[..., Callable] | None = None


MODELS: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    build: Callable[..., Any],
    *,
    description: str = "",
    add_arguments: Callable[[Any], None] | None = None,
    loss: Callable[..., Callable] | None = None,
    overwrite: bool = False,
) -> ModelSpec:
    """Add a model family to :data:`MODELS` (see :class:`ModelSpec`); returns its spec."""
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise InvalidInputError(f"model name must be a non-empty word, got {name!r}")
    if name in MODELS and not overwrite:
        raise InvalidInputError(f"a model called {name!r} is already registered")
    spec = ModelSpec(name, build, description, add_arguments, loss)
    MODELS[name] = spec
    return spec


def available_models() -> Mapping[str, ModelSpec]:
    """Every registered model, after importing :data:`PLUGIN_MODULES`."""
    for module in list(PLUGIN_MODULES):
        importlib.import_module(module)
    return dict(MODELS)


def build_model(name: str, *, in_channels: int, out_channels: int, ndim: int, key, **options):
    """Build the registered model `name` with `options` (others default)."""
    models = available_models()
    if name not in models:
        raise InvalidInputError(f"unknown model {name!r}; choose from {', '.join(sorted(models))}")
    return models[name].build(options, in_channels=in_channels, out_channels=out_channels, ndim=ndim, key=key)
