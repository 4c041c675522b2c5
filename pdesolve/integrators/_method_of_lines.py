"""Method of lines through `diffrax.diffeqsolve`, for any semi-discrete right-hand side."""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax.numpy as jnp

from .._errors import InvalidInputError
from ..pdes import AbstractPDE
from ._base import AbstractStepper, check_time_step


class MethodOfLines(AbstractStepper):
    r"""Advance $\partial_t u = F(t, u)$ over one interval `dt` with a Diffrax solver.

    The right-hand side is the PDE's semi-discrete :meth:`~pdesolve.pdes.AbstractPDE.rhs`, so
    this works for spectral and finite-difference PDEs alike. With `adaptive=True` (default)
    a PID controller picks internal steps to meet `rtol`/`atol`; otherwise a single solver
    step of size `dt` is taken. Gradients use Diffrax's recursive checkpointing adjoint.

    **Arguments:**

    - `pde`: any :class:`~pdesolve.pdes.AbstractPDE`.
    - `dt`: the interval covered by one call.
    - `solver`: a Diffrax solver (default `diffrax.Tsit5()`; use `diffrax.Kvaerno5()` for stiff problems).
    - `rtol`, `atol`: tolerances of the adaptive controller.
    - `adaptive`: use adaptive internal steps.
    - `max_steps`: cap on internal steps per call.
    """

    pde: AbstractPDE
    dt: float = eqx.field(static=True)
    solver: diffrax.AbstractSolver
    controller: diffrax.AbstractStepSizeController
    max_steps: int = eqx.field(static=True)

    def __init__(
        self,
        pde: AbstractPDE,
        dt: float,
        solver: diffrax.AbstractSolver | None = None,
        rtol: float = 1e-6,
        atol: float = 1e-8,
        adaptive: bool = True,
        max_steps: int = 4096,
    ):
        if not isinstance(pde, AbstractPDE):
            raise InvalidInputError(f"MethodOfLines needs a pdesolve PDE, got {type(pde).__name__}")
        self.pde = pde
        self.dt = check_time_step(dt)
        self.solver = diffrax.Tsit5() if solver is None else solver
        if adaptive:
            self.controller = diffrax.PIDController(rtol=rtol, atol=atol)
        else:
            self.controller = diffrax.ConstantStepSize()
        self.max_steps = int(max_steps)

    def __call__(self, u):
        self.pde.check_state(u, "u")
        term = diffrax.ODETerm(lambda t, y, args: self.pde.rhs(t, y))
        solution = diffrax.diffeqsolve(
            term,
            self.solver,
            t0=0.0,
            t1=self.dt,
            dt0=self.dt,
            y0=u,
            stepsize_controller=self.controller,
            max_steps=self.max_steps,
            saveat=diffrax.SaveAt(t1=True),
        )
        return solution.ys[0].astype(u.dtype)


def solve_method_of_lines(
    pde: AbstractPDE,
    u0,
    t1: float,
    save_times=None,
    solver: diffrax.AbstractSolver | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 100_000,
):
    r"""Solve $\partial_t u = F(t, u)$ on $[0, t_1]$ in one adaptive Diffrax call.

    Returns the states at `save_times` (default: only $t_1$), shaped ``(len(save_times), *u0.shape)``.
    """
    pde.check_state(u0, "u0")
    save_times = jnp.asarray([t1] if save_times is None else save_times, dtype=u0.dtype)
    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, args: pde.rhs(t, y)),
        diffrax.Tsit5() if solver is None else solver,
        t0=0.0,
        t1=t1,
        dt0=None,
        y0=u0,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
        saveat=diffrax.SaveAt(ts=save_times),
    )
    return solution.ys
