r"""TDVP / Neural Galerkin baseline: integrate $\dot\theta = \operatorname{lstsq}(J, \mathcal{N}[u_\theta])$ with Diffrax.

The Dirac-Frenkel time-dependent variational principle (Neural Galerkin, Bruna, Peherstorfer &
Vanden-Eijnden 2024; used as the TDVP baseline of TENG, Chen et al. ICML 2024) evolves the
parameters by the ODE

$$ \dot\theta = \operatorname*{arg\,min}_{\eta} \sum_i w_i\,\big|J_i\eta - \mathcal{N}[u_\theta](x_i)\big|^2
   \;(+\lambda\|\eta\|^2),\qquad J_i = \partial u_\theta(x_i)/\partial\theta, $$

solved densely (SVD; singular values below ``rcond`` relative are dropped) at every evaluation
of the vector field. The ODE in $\theta$ is integrated with :func:`diffrax.diffeqsolve`, with any
Diffrax solver and step-size controller. The residual of a state is the relative misfit of that
least-squares problem, $\|J\dot\theta - \mathcal{N}[u_\theta]\|_w / \|\mathcal{N}[u_\theta]\|_w$:
how far the dynamics leave the network's tangent space.
"""

from __future__ import annotations

import time

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .._errors import InvalidInputError, NonFiniteError
from ..linalg import damped_lstsq
from ._base import AbstractFieldSolver
from ._equations import AbstractFieldEquation
from ._marching import MarchResult
from ._projection import check_points_weights, weighted_relative_residual


class TDVP(AbstractFieldSolver):
    r"""TDVP time integration of the network parameters (see module doc).

    **Arguments:**

    - `equation`, `points`, `weights`: as for :class:`TENG`.
    - `dt`: the output step (a constant step size, or the initial one of an adaptive controller).
    - `solver`: a Diffrax solver (default ``diffrax.Tsit5()``).
    - `stepsize_controller`: a Diffrax controller (default ``diffrax.ConstantStepSize()``; e.g.
      ``diffrax.PIDController(rtol=1e-6, atol=1e-8)`` for adaptive steps).
    - `ridge`: Tikhonov regularisation of each least-squares solve.
    - `rcond`: relative singular-value cutoff of each least-squares solve.
    - `max_steps`: Diffrax's bound on solver steps.

    :meth:`solve` integrates $[0, n\,\Delta t]$ in one ``diffeqsolve`` and reports, per output step,
    the TDVP residual at its end and the accepted solver steps within it; :meth:`step`
    integrates one $\Delta t$.
    """

    equation: AbstractFieldEquation
    points: jax.Array
    weights: jax.Array
    solver: diffrax.AbstractSolver
    stepsize_controller: diffrax.AbstractStepSizeController
    dt: float = eqx.field(static=True)
    ridge: float = eqx.field(static=True)
    rcond: float | None = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    tolerance: None = eqx.field(static=True, default=None)

    def __init__(self, equation, points, weights=None, *, dt: float, solver: diffrax.AbstractSolver | None = None,
                 stepsize_controller: diffrax.AbstractStepSizeController | None = None, ridge: float = 0.0,
                 rcond: float | None = 1e-10, max_steps: int = 100_000):
        solver = diffrax.Tsit5() if solver is None else solver
        controller = diffrax.ConstantStepSize() if stepsize_controller is None else stepsize_controller
        if not isinstance(solver, diffrax.AbstractSolver):
            raise InvalidInputError(f"solver must be a diffrax solver such as diffrax.Tsit5(), got {solver!r}")
        if not isinstance(controller, diffrax.AbstractStepSizeController):
            raise InvalidInputError(f"stepsize_controller must be a diffrax step-size controller, got {controller!r}")
        if not dt > 0:
            raise InvalidInputError(f"dt must be positive, got {dt}")
        if int(max_steps) < 1:
            raise InvalidInputError(f"max_steps must be >= 1, got {max_steps}")
        self.equation = equation
        self.points, self.weights = check_points_weights(points, weights)
        self.solver, self.stepsize_controller = solver, controller
        self.dt, self.ridge = float(dt), float(ridge)
        self.rcond = None if rcond is None else float(rcond)
        self.max_steps = int(max_steps)

    @property
    def name(self) -> str:
        return f"TDVP-{type(self.solver).__name__}"

    def _field_and_residual(self, unravel):
        r"""The vector field $\theta \mapsto \dot\theta$ (flat parameters) and the residual of a state."""
        sqrt_w = jnp.sqrt(self.weights)

        def lstsq(flat):
            rows = jax.vmap(jax.grad(lambda p, x: unravel(p)(x)), in_axes=(None, 0))(flat, self.points)
            rhs = self.equation.rhs_on(unravel(flat), self.points)
            return rows, rhs, damped_lstsq(sqrt_w[:, None] * rows, sqrt_w * rhs, self.ridge, self.rcond)

        def field(t, flat, args):
            del t, args
            return lstsq(flat)[2]

        def residual(t, flat, args):
            del t, args
            rows, rhs, velocity = lstsq(flat)
            return weighted_relative_residual(rows @ velocity, rhs, self.weights)

        return field, residual

    def _diffeqsolve(self, flat0, t1: float, saveat: diffrax.SaveAt, field):
        return diffrax.diffeqsolve(
            diffrax.ODETerm(field),
            self.solver,
            t0=0.0,
            t1=float(t1),
            dt0=self.dt,
            y0=flat0,
            saveat=saveat,
            stepsize_controller=self.stepsize_controller,
            max_steps=self.max_steps,
        )

    @eqx.filter_jit
    def step(self, net, key):
        """Integrate one ``dt``; returns ``(net, (residual, accepted solver steps))``."""
        del key
        flat0, unravel = ravel_pytree(net)
        field, residual = self._field_and_residual(unravel)
        sol = self._diffeqsolve(flat0, self.dt, diffrax.SaveAt(t1=True), field)
        flat = sol.ys[-1]
        return unravel(flat), (residual(None, flat, None), sol.stats["num_accepted_steps"])

    def solve(self, net, num_steps: int, *, key=None, error_fn=None, error_every: int = 10,
              snapshot_every: int | None = None, progress: bool = True,
              max_wall_s: float | None = None) -> MarchResult:
        """Integrate $[0, \\text{num\\_steps}\\cdot\\Delta t]$ in one ``diffeqsolve`` (arguments as
        :meth:`AbstractFieldSolver.solve`; ``key`` and ``progress`` are unused).

        Errors and snapshots are taken from the dense solution at the step times $n\\,\\Delta t$.
        A non-finite residual raises :class:`~pdesolve.NonFiniteError` naming the first such step.
        """
        del key, progress
        if max_wall_s is not None:
            raise InvalidInputError("TDVP.solve integrates all steps in one compiled solve; max_wall_s is not supported")
        num_steps = int(num_steps)
        if num_steps < 1:
            raise InvalidInputError(f"num_steps must be >= 1, got {num_steps}")
        if int(error_every) < 1:
            raise InvalidInputError(f"error_every must be >= 1, got {error_every}")
        marks = sorted({0, num_steps, *range(0, num_steps, int(error_every))})
        if snapshot_every:
            marks = sorted(set(marks) | {0, num_steps, *range(0, num_steps, int(snapshot_every))})
        mark_times = np.asarray([n * self.dt for n in marks])
        step_times = np.asarray([n * self.dt for n in range(1, num_steps + 1)])
        flat0, unravel = ravel_pytree(net)
        field, residual = self._field_and_residual(unravel)
        saveat = diffrax.SaveAt(subs=[
            diffrax.SubSaveAt(ts=jnp.asarray(mark_times)),
            diffrax.SubSaveAt(ts=jnp.asarray(step_times), fn=residual),
            diffrax.SubSaveAt(steps=True, fn=lambda t, y, args: t),
        ])

        @jax.jit
        def run(y0):
            return self._diffeqsolve(y0, num_steps * self.dt, saveat, field).ys

        start = time.perf_counter()
        ys, residuals, accepted_times = jax.block_until_ready(run(flat0))
        wall = time.perf_counter() - start
        residuals = np.asarray(residuals)
        accepted = np.asarray(accepted_times)
        # output step n covers ((n - 1) dt, n dt]; a solver step ending within rounding of n dt counts for n
        ends = np.ceil(accepted[np.isfinite(accepted)] / self.dt - 1e-6).astype(int)
        iterations = np.bincount(np.clip(ends, 1, num_steps) - 1, minlength=num_steps)
        bad = np.flatnonzero(~np.isfinite(residuals))
        if bad.size:
            raise NonFiniteError(int(bad[0]) + 1, float(step_times[bad[0]]))
        result = MarchResult(state=unravel(ys[-1]), residuals=[float(r) for r in residuals],
                             stage_residuals=[[float(r)] for r in residuals],
                             iterations=[int(i) for i in iterations], wall_s=wall,
                             final_time=num_steps * self.dt)
        for n, t, y in zip(marks, mark_times, ys):
            if error_fn is not None and (n % int(error_every) == 0 or n == num_steps):
                result.times.append(float(t))
                result.errors.append(float(error_fn(unravel(y), float(t))))
            if snapshot_every and (n % int(snapshot_every) == 0 or n == num_steps):
                result.snapshots.append((float(t), unravel(y)))
        return result
