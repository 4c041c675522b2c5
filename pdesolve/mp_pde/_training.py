r"""``pdesolve train mp-pde``: the MP-PDE model in the generic training loop of :mod:`pdesolve.training`.

The generic loop feeds windows ``[b, window, c, x]`` of a single-channel 1D dataset and knows
nothing of PDE parameters or absolute times, so this registers the *parameter-free* MP-PDE
(:class:`MPPDEFrameModel`: no $\theta$ input, time input 0); for parameter-conditioned
training (E2/E3 with $\alpha,\beta,\gamma$) use :func:`~pdesolve.mp_pde.fit_mp_pde`
or ``experiments/mp_pde.py``.

- The model's input window is the ``--window`` of the run ($K$, 25 in the paper); its graph is
  the periodic radius graph with ``--neighbours`` $\times\Delta x$ (3), built for the data's
  ``nx`` when the model is first called.
- The loss (:func:`pushforward_loss`) takes ``--rollout-steps`` $= K(1 + R)$ target frames,
  draws $r \in \{0..R\}$ per step, applies the model $r$ times without gradient and returns
  $\sqrt{\sum(\hat u - u)^2}$ on bundle $r$ (the pushforward trick; unlike the paper, $r$ is
  drawn from the first epoch on).
- The generic evaluation rolls a model out one frame at a time; :class:`MPPDEFrameModel`
  then returns the first frame of its bundle.

Recommended, as in the paper::

    pdesolve train mp-pde --data E1_train_nx100.h5 --window 25 --rollout-steps 50 \
        --optimizer adamw --lr 1e-4 --batch-size 16 --epochs 20
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import InvalidInputError
from ._model import MPPDE, radius_graph

MP_PDE_DEFAULTS = {"hidden": 128, "layers": 6, "neighbours": 3, "extent": 16.0, "dt": 4.0 / 249, "t_final": 4.0}


@functools.lru_cache(maxsize=16)
def _uniform_graph(num_points: int, extent: float, neighbours: int):
    x = np.arange(num_points) * extent / num_points
    with jax.ensure_compile_time_eval():  # concrete arrays even when first built inside a trace
        return x, radius_graph(x, neighbours * extent / num_points, extent)


class MPPDEFrameModel(eqx.Module):
    r"""A parameter-free :class:`~pdesolve.mp_pde.MPPDE` on a uniform periodic grid.

    :meth:`bundle` maps a window ``[K, n]`` to the next $K$ frames; ``model(frames)`` with the
    window stacked on the channel axis, ``(K, n)``, returns the first of them as ``(1, n)``
    (the window-to-frame interface of :mod:`pdesolve.training`).

    **Arguments:** `window` $K$, `hidden`, `num_layers`, `neighbours` (graph radius in grid
    spacings), `extent` $L$, `dt` (time between frames), `t_final`, `key`.
    """

    net: MPPDE
    neighbours: int = eqx.field(static=True)

    def __init__(self, window: int, *, hidden=128, num_layers=6, neighbours=3, extent=16.0, dt=4.0 / 249,
                 t_final=4.0, key: PRNGKeyArray):
        if isinstance(neighbours, bool) or int(neighbours) != neighbours or neighbours < 1:
            raise InvalidInputError(f"neighbours must be a positive integer, got {neighbours!r}")
        self.net = MPPDE(dt=dt, extent=extent, t_final=t_final, window=window, hidden=hidden,
                         num_layers=num_layers, num_params=0, key=key)
        self.neighbours = int(neighbours)

    def bundle(self, window: Float[Array, "K n"]) -> Float[Array, "K n"]:
        """The next `K` frames after `window`."""
        if window.ndim != 2 or window.shape[0] != self.net.window:
            raise InvalidInputError(f"expected a window [{self.net.window}, nx], got shape {window.shape}")
        x, graph = _uniform_graph(int(window.shape[1]), self.net.extent, self.neighbours)
        theta = jnp.zeros((0,), window.dtype)
        return self.net(window, jnp.zeros((), window.dtype), theta, jnp.asarray(x, window.dtype), graph)

    def __call__(self, frames: Float[Array, "K n"]) -> Float[Array, "1 n"]:
        return self.bundle(frames)[:1]


def pushforward_loss(config):
    r"""``loss(model, batch, key)`` for :func:`pdesolve.training.train`: pushforward + $\sqrt{\text{sum SE}}$.

    ``batch = (inputs [b, K, 1, n], targets [b, K(1+R), 1, n])``; see the module docstring.
    """
    window, horizon = int(config.window), int(config.rollout_steps)
    if horizon % window:
        raise InvalidInputError(
            f"mp-pde needs --rollout-steps to be a multiple of --window (K(1+R) for R pushforward unrolls), "
            f"got {horizon} and {window}"
        )
    unrolls = horizon // window - 1

    def loss(model, batch, key):
        inputs, targets = batch
        inputs, targets = inputs[:, :, 0], targets[:, :, 0]
        r = jax.random.randint(key, (), 0, unrolls + 1)
        apply = jax.vmap(model.bundle)
        losses = []
        current = inputs
        for k in range(unrolls + 1):
            pred = apply(current)
            target = targets[:, k * window : (k + 1) * window]
            losses.append(jnp.sqrt(jnp.sum((pred - target) ** 2)))
            current = jax.lax.stop_gradient(pred)
        return jnp.stack(losses)[r]

    return loss


def _arguments(parser) -> None:
    d = MP_PDE_DEFAULTS
    parser.add_argument("--hidden", type=int, default=d["hidden"], help=f"hidden features ({d['hidden']})")
    parser.add_argument("--layers", type=int, default=d["layers"], help=f"message-passing layers ({d['layers']})")
    parser.add_argument("--neighbours", type=int, default=d["neighbours"],
                        help=f"graph radius in grid spacings ({d['neighbours']})")
    parser.add_argument("--extent", type=float, default=d["extent"], help=f"domain length L ({d['extent']})")
    parser.add_argument("--frame-dt", type=float, default=d["dt"], help="time between frames (4/249)")
    parser.add_argument("--t-final", type=float, default=d["t_final"], help=f"time normalisation ({d['t_final']})")


def _build(options, *, in_channels, out_channels, ndim, key):
    if ndim != 1 or out_channels != 1:
        raise InvalidInputError(f"mp-pde trains on 1D single-channel data, got ndim={ndim}, channels={out_channels}")
    o = {**MP_PDE_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    return MPPDEFrameModel(
        in_channels, hidden=o["hidden"], num_layers=o["layers"], neighbours=o["neighbours"], extent=o["extent"],
        dt=o.get("frame_dt", o["dt"]), t_final=o["t_final"], key=key,
    )


def _register() -> None:
    from ..training import MODELS, register_model

    if "mp-pde" not in MODELS:
        register_model(
            "mp-pde", _build, description="message-passing neural PDE solver (Brandstetter et al. 2022), 1D",
            add_arguments=_arguments, loss=pushforward_loss,
        )


_register()
