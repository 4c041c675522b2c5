"""Batched rollouts of many initial conditions, sharded across devices with `jax.sharding`."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array, Float

from .._errors import InvalidInputError
from ._base import AbstractStepper
from ._rollout import _raise_if_nonfinite, _scan_core, _validate


@eqx.filter_jit
def _batched(stepper, u0s, num_steps, save_every, check_finite):
    frames, final, first_bad = jax.vmap(
        lambda u: _scan_core(stepper, u, num_steps, save_every, check_finite)
    )(u0s)
    return frames, final, first_bad


def rollout_batch(
    stepper: AbstractStepper,
    u0s: Float[Array, "b c ..."],
    num_steps: int,
    *,
    save_every: int = 1,
    include_initial: bool = True,
    check_finite: bool = True,
    devices=None,
) -> Float[Array, "b t c ..."]:
    """Roll out a batch of initial conditions, vmapped and sharded over `devices`.

    The batch axis is split across a 1D device mesh (default: this process's
    `jax.local_devices()`, so in a multi-process run each process rolls out its own batch);
    batches not divisible by the device count are padded and trimmed. On one device this
    is a plain `vmap` of :func:`~pdesolve.integrators.rollout`. To try it on a CPU, start
    Python with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``.

    Returns frames shaped ``(batch, time, channels, *grid)``. A non-finite member raises
    :class:`~pdesolve.NonFiniteError` with the earliest bad step in the batch.
    """
    if getattr(u0s, "ndim", 0) < 2:
        raise InvalidInputError(f"u0s must be a batch shaped (batch, channels, *grid), got shape {getattr(u0s, 'shape', None)}")
    _validate(stepper, u0s[0], num_steps, save_every)
    devices = list(jax.local_devices() if devices is None else devices)
    batch = u0s.shape[0]
    pad = (-batch) % len(devices)
    if pad:
        u0s = jnp.concatenate([u0s, jnp.repeat(u0s[-1:], pad, axis=0)], axis=0)
    mesh = Mesh(np.asarray(devices), ("batch",))
    u0s = jax.device_put(u0s, NamedSharding(mesh, PartitionSpec("batch")))
    frames, _, first_bad = _batched(stepper, u0s, int(num_steps), int(save_every), bool(check_finite))
    frames, first_bad, u0s = frames[:batch], first_bad[:batch], u0s[:batch]
    if include_initial:
        frames = jnp.concatenate([u0s[:, None].astype(frames.dtype), frames], axis=1)
    if check_finite:
        bad = np.asarray(first_bad)
        earliest = int(bad[bad >= 0].min()) if np.any(bad >= 0) else -1
        frames = _raise_if_nonfinite(frames, earliest, stepper.dt)
    return frames
