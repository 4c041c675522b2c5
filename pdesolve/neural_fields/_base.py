r"""The time-marching protocol of the neural-field solvers.

A solver's state is a network $u_\theta$ (any Equinox module mapping one point to a value);
:meth:`AbstractFieldSolver.step` advances it by one time step $\Delta t$ and
:meth:`AbstractFieldSolver.solve` marches ``num_steps`` steps with the common loop
(:func:`march`: progress bar, error curve, snapshots, per-step residuals, and an
:class:`InnerSolveWarning` naming every step whose inner solve missed ``tolerance``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
from jaxtyping import Array, PRNGKeyArray

from ._marching import MarchResult, march


class AbstractFieldSolver(eqx.Module):
    r"""Base of the neural-field time steppers (:class:`TENG`, :class:`OBTI`, :class:`INSR`, :class:`TDVP`).

    Subclasses provide `dt`, `tolerance` (``None``: no inner-solve check), a `name` for
    progress bars and warnings, and :meth:`step`.
    """

    dt: eqx.AbstractVar[float]
    tolerance: eqx.AbstractVar[float | None]

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """Short label of the solver and its scheme (e.g. ``"TENG-heun"``)."""

    @abc.abstractmethod
    def step(self, net: Any, key: PRNGKeyArray) -> tuple[Any, tuple[Array, Array]]:
        """One time step: ``(net, (residual, iterations))``, the step's inner-solve residual (the
        solver's own measure, compared with `tolerance`) and its inner iterations."""

    def solve(
        self,
        net: Any,
        num_steps: int,
        *,
        key: PRNGKeyArray | None = None,
        error_fn: Callable[[Any, float], float] | None = None,
        error_every: int = 10,
        snapshot_every: int | None = None,
        progress: bool = True,
        max_wall_s: float | None = None,
    ) -> MarchResult:
        """March ``num_steps`` steps from ``net`` (see :func:`march`).

        **Arguments:**

        - `net`: the initial network (fitted to $u_0$).
        - `num_steps`: number of steps of size `dt`.
        - `key`: PRNG key, split into one key per step (default ``PRNGKey(0)``).
        - `error_fn`: ``error_fn(net, t) -> float`` (e.g. ``FieldReference.error``), evaluated at
          $t = 0$, every `error_every` steps and at the end.
        - `snapshot_every`: keep ``(t, net)`` every this many steps (and at both ends).
        - `progress`: show a progress bar.
        - `max_wall_s`: wall-clock budget in seconds: stop after the first step past it (the
          result's `stopped_early`, `final_time` say where), e.g. for a short GPU slot.
        """
        key = jax.random.PRNGKey(0) if key is None else key
        return march(
            self.step,
            net,
            num_steps,
            self.dt,
            key=key,
            error_fn=error_fn,
            error_every=error_every,
            snapshot_every=snapshot_every,
            tolerance=self.tolerance,
            name=self.name,
            progress=progress,
            max_wall_s=max_wall_s,
        )
