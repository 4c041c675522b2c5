"""Shared time-marching driver of the neural-field solvers (progress bar, errors, warnings)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from .._errors import InvalidInputError, NonFiniteError


class InnerSolveWarning(UserWarning):
    """A time step's inner solve (projection or optimisation) did not reach its tolerance."""


@dataclass
class MarchResult:
    """Outcome of :func:`march`.

    Attributes:
        state: the final state (network).
        times: times at which ``errors`` were evaluated.
        errors: error of the state at ``times`` (``nan`` when no error function was given).
        residuals: per-step inner-solve residual (the solver's own measure; the worst stage's).
        stage_residuals: per-step residual of each stage of the step (PINN: none).
        iterations: per-step inner iterations.
        failed_steps: 1-based step numbers whose inner solve missed the tolerance.
        wall_s: wall-clock seconds of the march (compilation included).
        snapshots: ``(time, state)`` pairs saved along the way.
        final_time: the time the march reached (``num_steps * dt`` unless a wall-clock budget
            stopped it earlier).
        stopped_early: whether ``max_wall_s`` stopped the march before ``num_steps``.
    """

    state: Any
    times: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    residuals: list[float] = field(default_factory=list)
    stage_residuals: list[list[float]] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)
    failed_steps: list[int] = field(default_factory=list)
    wall_s: float = 0.0
    snapshots: list[tuple[float, Any]] = field(default_factory=list)
    final_time: float = 0.0
    stopped_early: bool = False

    @property
    def final_error(self) -> float:
        return self.errors[-1] if self.errors else float("nan")


def march(
    step: Callable[[Any, jax.Array], tuple[Any, Any]],
    state: Any,
    num_steps: int,
    dt: float,
    *,
    key: jax.Array,
    error_fn: Callable[[Any, float], float] | None = None,
    error_every: int = 1,
    snapshot_every: int | None = None,
    tolerance: float | None = None,
    name: str = "solve",
    progress: bool = True,
    max_warnings: int = 5,
    max_wall_s: float | None = None,
) -> MarchResult:
    """Apply ``step(state, key) -> (state, (residual, iterations))`` ``num_steps`` times.

    ``residual`` is a scalar or one value per stage; the worst stage is the step's residual.

    After each step the residual is compared with ``tolerance``; a miss is recorded and an
    :class:`InnerSolveWarning` naming the step number is issued (the first ``max_warnings``
    individually, then one summary at the end). ``error_fn(state, t)`` is evaluated every
    ``error_every`` steps and at the end, and shown on the tqdm progress bar. A non-finite
    residual raises :class:`~pdesolve.NonFiniteError` with the step number.

    With ``max_wall_s``, the march stops after the first step that ends past that many seconds
    (compilation included): the error is evaluated there, ``result.stopped_early`` is set and
    ``result.final_time`` is the time reached, so a short budget gives the longest prefix of
    $[0, T]$ it can, with its error-vs-time curve.
    """
    from tqdm.auto import tqdm

    if int(num_steps) < 1:
        raise InvalidInputError(f"num_steps must be >= 1, got {num_steps}")
    if int(error_every) < 1:
        raise InvalidInputError(f"error_every must be >= 1, got {error_every}")
    if max_wall_s is not None and not max_wall_s > 0:
        raise InvalidInputError(f"max_wall_s must be > 0 seconds, got {max_wall_s}")
    result = MarchResult(state=state)
    if error_fn is not None:
        result.times.append(0.0)
        result.errors.append(float(error_fn(state, 0.0)))
    if snapshot_every:
        result.snapshots.append((0.0, state))
    start = time.perf_counter()
    keys = jax.random.split(key, int(num_steps))
    with tqdm(total=int(num_steps), desc=name, unit="step", disable=not progress, leave=False) as bar:
        for n in range(1, int(num_steps) + 1):
            state, (residual, iterations) = step(state, keys[n - 1])
            stages = np.atleast_1d(np.asarray(residual, np.float64))
            residual = float(np.max(stages)) if np.all(np.isfinite(stages)) else float("nan")
            result.residuals.append(residual)
            result.stage_residuals.append(stages.tolist())
            result.iterations.append(int(iterations))
            if not np.isfinite(residual):
                raise NonFiniteError(n, n * dt)
            if tolerance is not None and residual > tolerance:
                result.failed_steps.append(n)
                if len(result.failed_steps) <= max_warnings:
                    warnings.warn(
                        f"{name}: step {n} (t = {n * dt:.4g}): inner solve stopped at residual "
                        f"{residual:.3e} > tolerance {tolerance:.1e} after {int(iterations)} iterations",
                        InnerSolveWarning,
                        stacklevel=2,
                    )
            t = n * dt
            result.final_time = t
            out_of_time = max_wall_s is not None and n < int(num_steps) and time.perf_counter() - start > max_wall_s
            postfix = {"res": f"{residual:.1e}"}
            if error_fn is not None and (n % int(error_every) == 0 or n == int(num_steps) or out_of_time):
                result.times.append(t)
                result.errors.append(float(error_fn(state, t)))
                postfix["err"] = f"{result.errors[-1]:.2e}"
            if snapshot_every and (n % int(snapshot_every) == 0 or n == int(num_steps) or out_of_time):
                result.snapshots.append((t, state))
            bar.set_postfix(postfix, refresh=False)
            bar.update(1)
            if out_of_time:
                result.stopped_early = True
                break
    result.wall_s = time.perf_counter() - start
    result.state = state
    if len(result.failed_steps) > max_warnings:
        warnings.warn(
            f"{name}: {len(result.failed_steps)} of {num_steps} steps missed the inner-solve tolerance "
            f"{tolerance:.1e} (first: {result.failed_steps[:10]})",
            InnerSolveWarning,
            stacklevel=2,
        )
    return result
