"""Window-to-next-frame prediction, autoregressive rollouts, and the default losses."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import InvalidInputError


def predict_next(
    model, frames: Float[Array, "window c *space"], *, residual: bool = False
) -> Float[Array, "c *space"]:
    r"""One step of an autoregressive surrogate: $u_{n+1} = G_\theta(u_{n-w+1}, \dots, u_n)$.

    The `window` input frames are stacked along the channel axis, so `model` maps
    ``(window * c, *space)`` to ``(c, *space)``. With `residual` the model predicts the
    increment: $u_{n+1} = u_n + G_\theta(\cdot)$.
    """
    window, channels = frames.shape[:2]
    out = model(frames.reshape((window * channels,) + frames.shape[2:]))
    if out.shape != frames.shape[1:]:
        raise InvalidInputError(f"the model maps a window to shape {out.shape}, expected one frame {frames.shape[1:]}")
    return frames[-1] + out if residual else out


def rollout_model(
    model, frames: Float[Array, "window c *space"], steps: int, *, residual: bool = False
) -> Float[Array, "steps c *space"]:
    r"""Autoregressive rollout: predict `steps` frames, sliding the input window over the predictions.

    $$u_{n+1} = G_\theta(u_{n-w+1..n}),\qquad \text{window} \leftarrow (u_{n-w+2}, \dots, u_{n+1}),$$
    as in the FNO paper's 2D Navier-Stokes model (a ``lax.scan``; gradients flow through the
    whole rollout, i.e. backpropagation through time).
    """

    def step(window, _):
        nxt = predict_next(model, window, residual=residual)
        return jnp.concatenate([window[1:], nxt[None]], axis=0), nxt

    _, predictions = jax.lax.scan(step, frames, None, length=int(steps))
    return predictions


def _per_sample_relative(prediction, target):
    axes = tuple(range(2, prediction.ndim))
    num = jnp.sqrt(jnp.sum((prediction - target) ** 2, axis=axes))
    den = jnp.sqrt(jnp.sum(target**2, axis=axes))
    return num / jnp.maximum(den, jnp.finfo(target.dtype).tiny)


def make_rollout_loss(*, residual: bool = False, kind: str = "relative_l2"):
    r"""The default loss ``(model, batch, key) -> scalar`` for ``batch = (inputs, targets)``.

    Rolls the model out for ``targets.shape[1]`` steps from ``inputs [b, window, c, *space]``
    (one step = teacher-forced one-step training) and averages, over samples and steps, the
    per-frame relative $L^2$ error $\|\hat u_{b,n} - u_{b,n}\|_2 / \|u_{b,n}\|_2$ (the FNO
    paper's training loss, ``kind="relative_l2"``) or the mean squared error (``kind="mse"``).
    `key` is unused (deterministic models).
    """
    if kind not in ("relative_l2", "mse"):
        raise InvalidInputError(f"loss kind must be 'relative_l2' or 'mse', got {kind!r}")

    def loss(model, batch, key: PRNGKeyArray | None = None):
        inputs, targets = batch
        predictions = jax.vmap(lambda f: rollout_model(model, f, targets.shape[1], residual=residual))(inputs)
        if kind == "mse":
            return jnp.mean((predictions - targets) ** 2)
        return jnp.mean(_per_sample_relative(predictions, targets))

    return loss


@eqx.filter_jit
def batched_rollout(model, inputs, steps: int, residual: bool):
    """:func:`rollout_model` over a batch ``[b, window, c, *space]`` (jitted)."""
    return jax.vmap(lambda f: rollout_model(model, f, steps, residual=residual))(inputs)


@eqx.filter_jit
def one_step_all_windows(model, trajectories, window: int, residual: bool):
    """Teacher-forced one-step predictions of frames ``window..t-1`` of ``[b, t, c, *space]``."""
    num = trajectories.shape[1] - window
    starts = jnp.arange(num)

    def per_trajectory(traj):
        windows = jax.vmap(lambda s: jax.lax.dynamic_slice_in_dim(traj, s, window, axis=0))(starts)
        return jax.vmap(lambda f: predict_next(model, f, residual=residual))(windows)

    return jax.vmap(per_trajectory)(trajectories)
