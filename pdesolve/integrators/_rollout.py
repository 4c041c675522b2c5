"""Rollouts built on `jax.lax.scan`, with a cheap NaN/Inf check that names the failing step."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._errors import InvalidInputError, NonFiniteError
from ..spatial import irfft, rfft
from ._base import AbstractSpectralStepper, AbstractStepper


def _scan_core(stepper: AbstractStepper, u0, num_steps: int, save_every: int, check_finite: bool):
    """Run `num_steps` steps, saving every `save_every`-th state.

    Returns (saved frames excluding u0, index of the first non-finite step or -1).
    Spectral steppers carry Fourier coefficients between steps.
    """
    spectral = isinstance(stepper, AbstractSpectralStepper)
    grid = stepper.pde.grid if spectral else None
    step = stepper.step_fourier if spectral else stepper
    to_state = (lambda s: irfft(s, grid).astype(u0.dtype)) if spectral else (lambda s: s)
    state0 = rfft(u0, grid) if spectral else u0

    def inner(carry, _):
        state, counter, first_bad = carry
        state = step(state)
        counter = counter + 1
        if check_finite:
            bad = jnp.logical_not(jnp.all(jnp.isfinite(state)))
            first_bad = jnp.where((first_bad < 0) & bad, counter, first_bad)
        return (state, counter, first_bad), None

    def outer(carry, _):
        carry, _ = jax.lax.scan(inner, carry, None, length=save_every)
        return carry, to_state(carry[0])

    num_saves, remainder = divmod(num_steps, save_every)
    carry = (state0, jnp.asarray(0, jnp.int32), jnp.asarray(-1, jnp.int32))
    carry, frames = jax.lax.scan(outer, carry, None, length=num_saves)
    if remainder:
        carry, _ = jax.lax.scan(inner, carry, None, length=remainder)
    return frames, to_state(carry[0]), carry[2]


@eqx.filter_jit
def _rollout_jit(stepper, u0, num_steps, save_every, check_finite):
    return _scan_core(stepper, u0, num_steps, save_every, check_finite)


def _validate(stepper, u0, num_steps, save_every):
    if not isinstance(stepper, AbstractStepper):
        raise InvalidInputError(f"expected a pdesolve stepper, got {type(stepper).__name__}")
    stepper.pde.check_state(u0, "u0")
    if not isinstance(num_steps, (int, np.integer)) or num_steps < 0:
        raise InvalidInputError(f"num_steps must be a non-negative integer, got {num_steps!r}")
    if not isinstance(save_every, (int, np.integer)) or save_every <= 0:
        raise InvalidInputError(f"save_every must be a positive integer, got {save_every!r}")


def _raise_if_nonfinite(result, first_bad, dt):
    if isinstance(first_bad, jax.core.Tracer):
        return eqx.error_if(result, first_bad >= 0, "rollout became non-finite (NaN/Inf)")
    bad = int(first_bad)
    if bad >= 0:
        raise NonFiniteError(bad, bad * dt)
    return result


def rollout(
    stepper: AbstractStepper,
    u0: Float[Array, "c ..."],
    num_steps: int,
    *,
    save_every: int = 1,
    include_initial: bool = True,
    check_finite: bool = True,
) -> Float[Array, "t c ..."]:
    r"""Apply `stepper` `num_steps` times from `u0` and return the saved trajectory.

    Frames are saved every `save_every` steps (so $\lfloor n/s \rfloor$ frames, plus `u0` first
    when `include_initial`). The loop is a `lax.scan`; spectral steppers stay in Fourier space
    between saved frames. With `check_finite` (default) each step's finiteness is folded into
    one integer, and a :class:`~pdesolve.NonFiniteError` names the first bad step and its time.
    Under `jax.jit` the check becomes an `equinox.error_if` runtime error. Pass
    ``check_finite=False`` for the last bit of speed.
    """
    _validate(stepper, u0, num_steps, save_every)
    frames, _, first_bad = _rollout_jit(stepper, u0, int(num_steps), int(save_every), bool(check_finite))
    if include_initial:
        frames = jnp.concatenate([u0[None].astype(frames.dtype), frames], axis=0)
    if check_finite:
        frames = _raise_if_nonfinite(frames, first_bad, stepper.dt)
    return frames


def advance(
    stepper: AbstractStepper, u0: Float[Array, "c ..."], num_steps: int, *, check_finite: bool = True
) -> Float[Array, "c ..."]:
    """Apply `stepper` `num_steps` times and return only the final state (see :func:`rollout`)."""
    _validate(stepper, u0, num_steps, 1)
    _, final, first_bad = _rollout_jit(stepper, u0, int(num_steps), max(int(num_steps), 1), bool(check_finite))
    if check_finite:
        final = _raise_if_nonfinite(final, first_bad, stepper.dt)
    return final


def rollout_with_progress(
    stepper: AbstractStepper,
    u0: Float[Array, "c ..."],
    num_steps: int,
    *,
    save_every: int = 1,
    check_finite: bool = True,
    num_chunks: int = 20,
    progress: bool = True,
    description: str = "solve",
) -> Float[Array, "t c ..."]:
    """:func:`rollout` in a few jitted chunks, advancing a tqdm progress bar after each.

    Chunks have equal length (a multiple of `save_every`), so at most two compilations
    happen. The initial state is included. A non-finite state raises
    :class:`~pdesolve.NonFiniteError` with the global step index.
    """
    from tqdm.auto import tqdm

    _validate(stepper, u0, num_steps, save_every)
    saves = num_steps // save_every
    per_chunk = max(1, -(-saves // max(1, num_chunks))) * save_every
    frames = [u0[None]]
    state, done = u0, 0
    with tqdm(total=num_steps, desc=description, unit="step", disable=not progress, leave=False) as bar:
        while done < num_steps:
            length = min(per_chunk, num_steps - done)
            chunk_frames, state, first_bad = _rollout_jit(stepper, state, length, save_every, bool(check_finite))
            if check_finite and int(first_bad) >= 0:
                bad = done + int(first_bad)
                raise NonFiniteError(bad, bad * stepper.dt)
            frames.append(chunk_frames)
            done += length
            bar.update(length)
    return jnp.concatenate(frames, axis=0)
