r"""Neural ODEs $\dot y = f_\theta(t, y)$ solved with Diffrax, with a choice of adjoint.

A neural ODE (Chen et al., NeurIPS 2018) is a vector field network $f_\theta$ integrated
by an ODE solver; the prediction at times $t_0 < t_1 < \dots < t_K$ is
$y(t_k) = y_0 + \int_{t_0}^{t_k} f_\theta(t, y)\,\mathrm dt$. Its gradient with respect to
$\theta$ can be computed three ways, chosen by the Diffrax adjoint object given to
:class:`NeuralODE` (``adjoint=``):

- :class:`diffrax.RecursiveCheckpointAdjoint` (default):
  *discretise-then-optimise*. Reverse-mode autodiff through the solver's own steps, storing
  only $O(\log N)$ checkpoints of an $N$-step solve (binomial checkpointing, recomputing the
  rest; ``RecursiveCheckpointAdjoint(checkpoints=...)`` sets their number). The gradient is
  the exact derivative of the computed solution, so it is as accurate as the forward solve.
  It needs `max_steps`, the most steps any solve may take; memory grows slowly with
  `max_steps`. The right choice almost always.
- :class:`diffrax.BacksolveAdjoint`: the *continuous adjoint*
  (optimise-then-discretise). The adjoint ODE
  $\dot a = -a^\top \partial_y f$, $\dot g = -a^\top \partial_\theta f$ is solved backwards
  from $t_K$ together with $y$ itself, so memory is $O(1)$ in the number of steps. The
  gradient is only approximate: $y(t)$ is *recomputed* by integrating backwards in time, and
  the backward solve's truncation error does not match the forward one. For dissipative
  (diffusive) dynamics the backward problem is anti-diffusive, i.e. ill-posed: a mode that
  decayed by $e^{-\lambda T}$ forwards grows by $e^{\lambda T}$ backwards, amplifying rounding
  and truncation errors until the gradient is garbage. Use it only for non-dissipative
  dynamics (oscillators, advection, Hamiltonian systems) when memory is the constraint.
  Gradients are taken only with respect to the vector field's parameters, ``y0`` and ``args``.
- :class:`diffrax.DirectAdjoint`: differentiate the solver loop directly
  (a bounded while loop). Exact like checkpointing, but stores every step up to `max_steps`
  and is slower; it is the one that supports forward-mode (``jax.jvp``) and higher-order
  derivatives.

The module also offers the *solver-heuristic regulariser* of Pal et al. (ICML 2021,
"Opening the Blackbox") and its local variant (Pal, Edelman, Rackauckas, ICML 2023): see
:meth:`NeuralODE.solve_with_stats` and :class:`ErrorEstimateRecorder`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, PyTree

from .._errors import InvalidInputError

def _rms(tree) -> Array:
    """Root-mean-square over all leaves, with a zero (not NaN) gradient at zero."""
    leaves = jax.tree_util.tree_leaves(tree)
    mean_square = sum(jnp.sum(jnp.square(leaf)) for leaf in leaves) / max(sum(leaf.size for leaf in leaves), 1)
    positive = mean_square > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, mean_square, 1.0)), 0.0)


def _scaled_error(y0, y1, y_error, rtol: float, atol: float) -> Array:
    r"""$E = \| \hat e / (\mathrm{atol} + \mathrm{rtol}\max(|y_0|, |y_1|)) \|_{\mathrm{rms}}$ (OrdinaryDiffEq's ``EEst``)."""
    scale = jax.tree_util.tree_map(lambda a, b: atol + rtol * jnp.maximum(jnp.abs(a), jnp.abs(b)), y0, y1)
    return _rms(jax.tree_util.tree_map(lambda e, c: e / c, y_error, scale))


def supports_stiffness_estimate(solver: diffrax.AbstractSolver) -> bool:
    """Whether :func:`stiffness_estimate` applies: an explicit first-same-as-last RK tableau (Tsit5, Dopri5, Bosh3, ...)."""
    tableau = getattr(solver, "tableau", None)
    return (
        tableau is not None
        and bool(getattr(tableau, "fsal", False))
        and bool(getattr(tableau, "ssal", False))
        and not bool(getattr(tableau, "implicit", False))
        and len(tableau.a_lower) >= 2
    )


def stiffness_estimate(solver: diffrax.AbstractSolver, y0, y1, stages, dt) -> Array:
    r"""Hairer's stiffness (dominant-eigenvalue) estimate of one explicit RK step.

    For a first-same-as-last tableau with stage states $g_{s-1}$ and $g_s = y_1$ and stage
    derivatives $k_{s-1} = f(g_{s-1})$, $k_s = f(y_1)$,

    $$ S = \frac{\|k_s - k_{s-1}\|}{\|g_s - g_{s-1}\|} \approx |\lambda_{\max}(\partial_y f)| $$

    (Hairer & Wanner, *Solving ODEs II*, IV.2; OrdinaryDiffEq's ``eigen_est`` for Tsit5). This
    is the stiffness estimate Pal et al. (2021) regularise as $R_S = \sum_j S_j |\Delta t_j|$.
    `stages` are Diffrax's dense-output increments $\Delta t\,k_i$ stacked on a leading axis;
    returns 0 where $g_s = g_{s-1}$.
    """
    if not supports_stiffness_estimate(solver):
        raise InvalidInputError(
            f"the stiffness estimate needs an explicit first-same-as-last Runge-Kutta solver, got {type(solver).__name__}"
        )
    row = solver.tableau.a_lower[-2]  # weights of stage s-1
    n = len(row)
    g_prev = jax.tree_util.tree_map(
        lambda a, k: a + jnp.tensordot(jnp.asarray(row, k.dtype), k[:n], axes=1), y0, stages
    )
    top = _rms(jax.tree_util.tree_map(lambda k: k[-1] - k[n], stages))  # |dt| ||k_s - k_{s-1}||
    bottom = _rms(jax.tree_util.tree_map(lambda a, b: a - b, y1, g_prev)) * jnp.abs(dt)
    positive = bottom > 0
    return jnp.where(positive, top / jnp.where(positive, bottom, 1.0), 0.0)


class RecorderState(NamedTuple):
    """State of a solve with :class:`ErrorEstimateRecorder`: the ODE state and three accumulators."""

    y: PyTree
    error_sum: Array  # global regulariser R_E = sum_j E_j |dt_j|
    error_at_sample: Array  # E_j of the accepted step containing the sample time
    stiffness_sum: Array  # stiffness regulariser R_S = sum_j S_j |dt_j|


class ErrorEstimateRecorder(diffrax.AbstractAdaptiveSolver, diffrax.AbstractWrappedSolver):
    r"""Wrap an adaptive Runge-Kutta solver so each accepted step records its error estimate.

    The state is a :class:`RecorderState` ``(y, error_sum, error_at_sample, stiffness_sum)``;
    the vector field must leave the accumulators constant (zero derivative), which
    :meth:`NeuralODE.solve_with_stats` arranges. After the wrapped solver takes a step
    $t_j \to t_j + \Delta t_j$ with embedded error estimate $\hat e_j$ for $y$, we add

    $$
    E_j = \Big\| \frac{\hat e_j}{\mathrm{atol} + \mathrm{rtol}\,\max(|y_j|, |y_{j+1}|)} \Big\|_{\mathrm{rms}}, \qquad
    R_E \mathrel{+}= E_j\,|\Delta t_j|, \qquad
    E_j\,[t_j \le s < t_j + \Delta t_j] \text{ (recorded as error\_at\_sample)}, \qquad
    R_S \mathrel{+}= S_j\,|\Delta t_j|,
    $$

    where $s$ is `sample_time` and $S_j$ is :func:`stiffness_estimate` (zero for solvers it
    does not apply to). $E_j$ is the error estimate scaled by the tolerances, the
    quantity the step-size controller keeps below 1 (OrdinaryDiffEq's ``EEst``), so the
    regulariser does not depend on the scale of $y$. Rejected steps are discarded with their contributions, so the
    sums run over accepted steps. $R_E$ and $R_S$ are the global error- and stiffness-estimate
    regularisers of Pal et al. (2021), "Opening the Blackbox: Accelerating Neural Differential
    Equations by Regularizing Internal Solver Heuristics" (their reference code accumulates
    ``EEst * dt`` and ``eigen_est * dt`` over the accepted steps). They are differentiable in
    $\theta$ through the solver stages, at no extra vector-field evaluations. (The local variant
    of Pal, Edelman and Rackauckas (2023) is :meth:`NeuralODE.solve_with_local_regulariser`,
    which does not need this wrapper.) The error
    estimates reported to the step-size controller are those of $y$ alone (zero for the
    accumulators), so the steps taken are those of the unwrapped solver.

    **Arguments:**

    - `solver`: an adaptive Diffrax solver with an embedded error estimate (e.g. ``Tsit5()``).
    - `rtol`, `atol`: the tolerances used to scale the error estimate (those of the controller).
    - `sample_time`: the local variant's time $s$ (``None``: $+\infty$, never sampled).
    """

    solver: diffrax.AbstractAdaptiveSolver
    sample_time: Array
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)

    def __init__(
        self,
        solver: diffrax.AbstractAdaptiveSolver,
        sample_time: ArrayLike | None = None,
        *,
        rtol: float = 1e-5,
        atol: float = 1e-7,
    ):
        if not isinstance(solver, diffrax.AbstractAdaptiveSolver):
            raise InvalidInputError(
                f"the solver-heuristic regulariser needs an adaptive solver with an error estimate, got "
                f"{type(solver).__name__}"
            )
        self.solver = solver
        self.sample_time = jnp.asarray(jnp.inf if sample_time is None else sample_time)
        self.rtol = float(rtol)
        self.atol = float(atol)

    @property
    def term_structure(self):
        return self.solver.term_structure

    @property
    def interpolation_cls(self):  # type: ignore[override]
        return self.solver.interpolation_cls

    @property
    def term_compatible_contr_kwargs(self):
        return self.solver.term_compatible_contr_kwargs

    def order(self, terms):
        return self.solver.order(terms)

    def strong_order(self, terms):
        return self.solver.strong_order(terms)

    def error_order(self, terms):
        return self.solver.error_order(terms)

    def init(self, terms, t0, t1, y0, args):
        return self.solver.init(terms, t0, t1, y0, args)

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        y1, y_error, dense_info, solver_state, result = self.solver.step(
            terms, t0, t1, y0, args, solver_state, made_jump
        )
        if y_error is None:  # pragma: no cover - guarded by the isinstance check in __init__
            raise InvalidInputError("the wrapped solver returned no error estimate")
        estimate = _scaled_error(y0.y, y1.y, y_error.y, self.rtol, self.atol)
        dt = jnp.abs(t1 - t0)
        inside = (self.sample_time >= t0) & (self.sample_time < t1)
        stages = dense_info.get("k") if isinstance(dense_info, dict) else None
        if supports_stiffness_estimate(self.solver) and stages is not None:
            stiffness = stiffness_estimate(self.solver, y0.y, y1.y, stages.y, t1 - t0)
        else:
            stiffness = jnp.zeros((), y1.stiffness_sum.dtype)
        y1 = RecorderState(
            y1.y,
            y1.error_sum + (estimate * dt).astype(y1.error_sum.dtype),
            y1.error_at_sample + jnp.where(inside, estimate, 0.0).astype(y1.error_at_sample.dtype),
            y1.stiffness_sum + (stiffness * dt).astype(y1.stiffness_sum.dtype),
        )
        y_error = RecorderState(
            y_error.y, *(jnp.zeros_like(a) for a in (y_error.error_sum, y_error.error_at_sample, y_error.stiffness_sum))
        )
        return y1, y_error, dense_info, solver_state, result

    def func(self, terms, t0, y0, args):
        return self.solver.func(terms, t0, y0, args)


class SolveStats(NamedTuple):
    r"""What one solve cost, and the solver-heuristic regularisers.

    - `num_steps`: steps attempted (accepted + rejected).
    - `num_accepted_steps`, `num_rejected_steps`.
    - `error_sum`: $R_E = \\sum_j E_j |\\Delta t_j|$ over accepted steps (see
      :class:`ErrorEstimateRecorder`); zero when not recorded.
    - `error_at_sample`: $E_j$ of the accepted step containing the sample time; zero when not
      recorded or not sampled.
    - `stiffness_sum`: $R_S = \sum_j S_j |\Delta t_j|$ (:func:`stiffness_estimate`) over
      accepted steps; zero when not recorded.
    """

    num_steps: Array
    num_accepted_steps: Array
    num_rejected_steps: Array
    error_sum: Array
    error_at_sample: Array
    stiffness_sum: Array


def function_evaluations(solver: diffrax.AbstractSolver, num_steps: ArrayLike) -> Array:
    r"""Vector-field evaluations of `num_steps` steps of an explicit Runge-Kutta `solver`.

    An $s$-stage first-same-as-last method (Tsit5, Dopri5, Dopri8, Bosh3) costs $s - 1$ new
    evaluations per step plus one at the start; others cost $s$ per step.
    """
    tableau = getattr(solver, "tableau", None)
    if tableau is None:
        raise InvalidInputError(f"cannot count function evaluations of {type(solver).__name__}")
    stages = len(tableau.c) + 1
    fsal = bool(getattr(tableau, "fsal", False))
    num_steps = jnp.asarray(num_steps)
    return (stages - 1) * num_steps + 1 if fsal else stages * num_steps


class NeuralODE(eqx.Module):
    r"""A neural ODE $\dot y = f_\theta(t, y, \text{args})$ solved by Diffrax.

    Calling it returns the solution at the requested times.

    **Arguments:**

    - `vector_field`: a callable module ``f(t, y, args) -> dy/dt`` (e.g. :class:`MLPVectorField`,
      :class:`ClosureVectorField`).
    - `adjoint`: a Diffrax adjoint: ``diffrax.RecursiveCheckpointAdjoint()`` (default),
      ``diffrax.BacksolveAdjoint()`` or ``diffrax.DirectAdjoint()`` (see the module
      documentation for when each is right).
    - `solver`: a Diffrax solver (default ``Tsit5()``).
    - `rtol`, `atol`: tolerances of the adaptive step-size controller.
    - `dt0`: initial step (``None``: chosen by the controller). With ``adaptive=False`` the
      constant step.
    - `adaptive`: use a PID controller (default) or constant steps of `dt0`.
    - `max_steps`: the most steps one solve may take (the checkpointed and direct adjoints
      need it; a solve that needs more fails with a Diffrax error).
    """

    vector_field: Callable
    solver: diffrax.AbstractSolver
    adjoint: diffrax.AbstractAdjoint
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)
    dt0: float | None = eqx.field(static=True)
    adaptive: bool = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)

    def __init__(
        self,
        vector_field: Callable,
        *,
        adjoint: diffrax.AbstractAdjoint | None = None,
        solver: diffrax.AbstractSolver | None = None,
        rtol: float = 1e-5,
        atol: float = 1e-7,
        dt0: float | None = None,
        adaptive: bool = True,
        max_steps: int = 4096,
    ):
        adjoint = diffrax.RecursiveCheckpointAdjoint() if adjoint is None else adjoint
        if not isinstance(adjoint, diffrax.AbstractAdjoint):
            raise InvalidInputError(
                f"adjoint must be a Diffrax adjoint object such as diffrax.RecursiveCheckpointAdjoint(), "
                f"diffrax.BacksolveAdjoint() or diffrax.DirectAdjoint(), got {adjoint!r}"
            )
        if not callable(vector_field):
            raise InvalidInputError(f"vector_field must be callable f(t, y, args), got {type(vector_field).__name__}")
        solver = diffrax.Tsit5() if solver is None else solver
        if adaptive and not isinstance(solver, diffrax.AbstractAdaptiveSolver):
            raise InvalidInputError(
                f"{type(solver).__name__} has no error estimate; pass adaptive=False with a dt0, or an adaptive solver"
            )
        if not adaptive and (dt0 is None or not (float(dt0) > 0 and math.isfinite(float(dt0)))):
            raise InvalidInputError(f"adaptive=False needs a positive, finite dt0, got {dt0!r}")
        for name, tol in (("rtol", rtol), ("atol", atol)):
            if not (float(tol) > 0 and math.isfinite(float(tol))):
                raise InvalidInputError(f"{name} must be positive and finite, got {tol!r}")
        if isinstance(max_steps, bool) or int(max_steps) != max_steps or max_steps < 1:
            raise InvalidInputError(f"max_steps must be a positive integer, got {max_steps!r}")
        self.vector_field = vector_field
        self.solver = solver
        self.adjoint = adjoint
        self.rtol = float(rtol)
        self.atol = float(atol)
        self.dt0 = None if dt0 is None else float(dt0)
        self.adaptive = bool(adaptive)
        self.max_steps = int(max_steps)

    def _controller(self, norm=None):
        if not self.adaptive:
            return diffrax.ConstantStepSize()
        if norm is None:
            return diffrax.PIDController(rtol=self.rtol, atol=self.atol)
        return diffrax.PIDController(rtol=self.rtol, atol=self.atol, norm=norm)

    def _check_inputs(self, y0, ts, args=None):
        ts = jnp.asarray(ts)
        if ts.ndim != 1 or ts.shape[0] < 2:
            raise InvalidInputError(f"ts must be a 1D array of at least 2 times, got shape {tuple(ts.shape)}")
        if not isinstance(ts, jax.core.Tracer):
            concrete = np.asarray(ts)
            if not np.all(np.isfinite(concrete)):
                raise InvalidInputError("ts must be finite")
            if not np.all(np.diff(concrete) > 0):
                raise InvalidInputError("ts must be strictly increasing")
        if not isinstance(y0, jax.core.Tracer):
            for leaf in jax.tree_util.tree_leaves(y0):
                leaf = np.asarray(leaf)
                if leaf.dtype.kind != "f":
                    raise InvalidInputError(f"y0 must be a real floating array, got dtype {leaf.dtype}")
                if not np.all(np.isfinite(leaf)):
                    raise InvalidInputError("y0 must be finite")
        try:  # shapes only (a trace, no compute): a mismatch would otherwise surface inside the solver
            out = jax.eval_shape(self.vector_field, ts[0], y0, args)
        except (TypeError, ValueError) as err:
            shapes = jax.tree_util.tree_map(jnp.shape, y0)
            raise InvalidInputError(f"the vector field cannot take y0 shaped {shapes}: {str(err).splitlines()[0]}") \
                from None
        if jax.tree_util.tree_structure(out) != jax.tree_util.tree_structure(y0) or any(
                a.shape != jnp.shape(b) for a, b in zip(jax.tree_util.tree_leaves(out), jax.tree_util.tree_leaves(y0))):
            raise InvalidInputError(f"the vector field maps y0 shaped {jax.tree_util.tree_map(jnp.shape, y0)} to "
                                    f"{jax.tree_util.tree_map(lambda a: a.shape, out)}; dy/dt must have y's shape")
        return ts

    def solve(
        self, y0: PyTree[Float[Array, "..."]], ts: Float[ArrayLike, " k"], args=None, *, throw: bool = True
    ) -> diffrax.Solution:
        """The full :class:`diffrax.Solution` at times `ts` (``ts[0]`` is the initial time).

        With ``throw=False`` a failed solve (e.g. `max_steps` reached) returns NaN states
        instead of raising, so a training loop can treat it as a non-finite loss.
        """
        ts = self._check_inputs(y0, ts, args)
        dtype = jax.tree_util.tree_leaves(y0)[0].dtype
        return self._integrate(y0, ts.astype(dtype), args, throw)

    def _integrate(self, y0, save_times, args, throw: bool) -> diffrax.Solution:
        """``diffeqsolve`` from ``save_times[0]`` to ``save_times[-1]``, saving at ``save_times``
        (sorted, already checked); with ``throw=False`` a failed solve gives NaN states."""
        solution = diffrax.diffeqsolve(
            diffrax.ODETerm(self.vector_field),
            self.solver,
            t0=save_times[0],
            t1=save_times[-1],
            dt0=self.dt0,
            y0=y0,
            args=args,
            saveat=diffrax.SaveAt(ts=save_times),
            stepsize_controller=self._controller(),
            adjoint=self.adjoint,
            max_steps=self.max_steps,
            throw=throw,
        )
        if throw:
            return solution
        failed = solution.result != diffrax.RESULTS.successful
        ys = jax.tree_util.tree_map(lambda leaf: jnp.where(failed, jnp.nan, leaf), solution.ys)
        return eqx.tree_at(lambda s: s.ys, solution, ys)

    def __call__(self, y0: PyTree[Float[Array, "..."]], ts: Float[ArrayLike, " k"], args=None) -> PyTree:
        r"""The solution $y(t_k)$ for every time in `ts`, stacked on a leading axis."""
        return self.solve(y0, ts, args).ys

    def solve_with_stats(
        self,
        y0: PyTree[Float[Array, "..."]],
        ts: Float[ArrayLike, " k"],
        args=None,
        *,
        sample_time: ArrayLike | None = None,
        throw: bool = True,
    ) -> tuple[PyTree, SolveStats]:
        r"""Solve, recording the step counts and the solver-heuristic regularisers.

        Returns ``(ys, stats)`` with ``ys`` as from :meth:`__call__` and a :class:`SolveStats`.
        The solve wraps the solver in :class:`ErrorEstimateRecorder`, so `stats.error_sum`
        ($R_E$, Pal et al. 2021), `stats.stiffness_sum` ($R_S$) and `stats.error_at_sample`
        ($E_j$ of the accepted step containing `sample_time`) are differentiable functions of
        $\theta$; add ``weight * stats.error_sum`` (and/or the stiffness term) to a training
        loss to steer training towards dynamics the adaptive solver integrates in fewer steps.
        (For the local variant of Pal et al. 2023 use :meth:`solve_with_local_regulariser`.) The steps taken are
        exactly those of :meth:`__call__`.

        Needs an adaptive solver and a discretise-then-optimise adjoint (recursive checkpoint or
        direct; :class:`diffrax.BacksolveAdjoint` would integrate the accumulators backwards,
        which is not meaningful).
        ``throw=False`` turns a failed solve into NaN outputs, as in :meth:`solve`.
        """
        if not self.adaptive:
            raise InvalidInputError("solve_with_stats records adaptive error estimates; this NeuralODE has adaptive=False")
        if isinstance(self.adjoint, diffrax.BacksolveAdjoint):
            raise InvalidInputError(
                "solver-heuristic regularisation through the solve needs a recursive-checkpoint or direct adjoint, "
                "not diffrax.BacksolveAdjoint (the local regulariser works with any)"
            )
        ts = self._check_inputs(y0, ts, args)
        dtype = jax.tree_util.tree_leaves(y0)[0].dtype
        ts = ts.astype(dtype)
        zero = jnp.zeros((), dtype)
        state0 = RecorderState(y0, zero, zero, zero)
        field = self.vector_field

        def augmented(t, state, args):
            return RecorderState(field(t, state.y, args), *(jnp.zeros_like(a) for a in state[1:]))

        sample = None if sample_time is None else jnp.asarray(sample_time, dtype)
        solution = diffrax.diffeqsolve(
            diffrax.ODETerm(augmented),
            ErrorEstimateRecorder(self.solver, sample, rtol=self.rtol, atol=self.atol),
            t0=ts[0],
            t1=ts[-1],
            dt0=self.dt0,
            y0=state0,
            args=args,
            saveat=diffrax.SaveAt(ts=ts, t1=True),
            stepsize_controller=self._controller(norm=lambda s: _rms(s.y)),
            adjoint=self.adjoint,
            max_steps=self.max_steps,
            throw=throw,
        )
        failed = solution.result != diffrax.RESULTS.successful
        ys = jax.tree_util.tree_map(lambda leaf: jnp.where(failed, jnp.nan, leaf[:-1]), solution.ys.y)
        stats = SolveStats(
            num_steps=solution.stats["num_steps"],
            num_accepted_steps=solution.stats["num_accepted_steps"],
            num_rejected_steps=solution.stats["num_rejected_steps"],
            error_sum=jnp.where(failed, jnp.nan, solution.ys.error_sum[-1]),
            error_at_sample=jnp.where(failed, jnp.nan, solution.ys.error_at_sample[-1]),
            stiffness_sum=jnp.where(failed, jnp.nan, solution.ys.stiffness_sum[-1]),
        )
        return ys, stats

    def local_regulariser(
        self, t: ArrayLike, y: PyTree[Float[Array, "..."]], args=None, *, max_step: ArrayLike | None = None
    ) -> tuple[Array, Array]:
        r"""The solver heuristics of one fresh adaptive step from $(t, y)$: ``(E h, S h)``.

        The local regulariser of Pal, Edelman and Rackauckas (ICML 2023, "Locally Regularized
        Neural Differential Equations: Some Black Boxes Were Meant to Remain Closed!"): start a
        new integrator at the sampled state, let the step-size controller choose its first step
        $h$ (Hairer's initial-step heuristic, as when a solve starts; at most `max_step`, as the
        paper's fresh integrator is capped by its time span), take
        that one step and return its scaled error estimate times the step, $E\,h$, and its
        stiffness estimate times the step, $S\,h$ (:func:`stiffness_estimate`; 0 if the solver
        has none). $y$ and $h$ are constants (gradients are stopped): the gradient reaches
        $\theta$ only through the one step's stages, so this works with any adjoint, including
        :class:`diffrax.BacksolveAdjoint`. It costs two vector-field evaluations for $h$ plus one step's.
        """
        if not self.adaptive or not isinstance(self.solver, diffrax.AbstractAdaptiveSolver):
            raise InvalidInputError("the local regulariser needs an adaptive solver with an error estimate")
        y = jax.lax.stop_gradient(y)
        dtype = jax.tree_util.tree_leaves(y)[0].dtype
        t = jnp.asarray(t, dtype)
        term = diffrax.ODETerm(self.vector_field)
        controller = self._controller()
        cap = jnp.asarray(jnp.inf if max_step is None else max_step, dtype)
        t_next, _ = controller.init(term, t, t + cap, y, None, args, self.solver.func, self.solver.error_order(term))
        h = jax.lax.stop_gradient(jnp.minimum(jnp.asarray(t_next, dtype) - t, cap))
        t_next = t + h
        state = self.solver.init(term, t, t_next, y, args)
        y1, y_error, dense_info, _, _ = self.solver.step(term, t, t_next, y, args, state, False)
        estimate = _scaled_error(y, y1, y_error, self.rtol, self.atol)
        if supports_stiffness_estimate(self.solver):
            stiffness = stiffness_estimate(self.solver, y, y1, dense_info["k"], h)
        else:
            stiffness = jnp.zeros((), dtype)
        return estimate * h, stiffness * h

    def solve_with_local_regulariser(
        self,
        y0: PyTree[Float[Array, "..."]],
        ts: Float[ArrayLike, " k"],
        sample_time: ArrayLike,
        args=None,
        *,
        throw: bool = True,
    ) -> tuple[PyTree, Array, Array, Array]:
        r"""Solve at `ts` and evaluate :meth:`local_regulariser` at `sample_time` $s \in [t_0, t_K]$.

        Returns ``(ys, E h, S h, num_steps)``: ``ys`` as from :meth:`__call__`, the one-step
        error- and stiffness-estimate regularisers at $(s, y(s))$, and the solve's step count
        (the extra step is not counted). $y(s)$ is saved by the same solve (it is added to the
        save times), so the trajectory and its steps are those of :meth:`__call__`. Drawing $s$
        uniformly per training step is the paper's *unbiased sampling*. ``throw=False`` turns a
        failed solve into NaN outputs.
        """
        ts = self._check_inputs(y0, ts, args)
        dtype = jax.tree_util.tree_leaves(y0)[0].dtype
        ts = ts.astype(dtype)
        sample = jnp.clip(jnp.asarray(sample_time, dtype), ts[0], ts[-1])
        all_times = jnp.concatenate([ts, sample[None]])
        order = jnp.argsort(all_times)
        where = jnp.argsort(order)  # position of each time in the sorted list
        solution = self._integrate(y0, all_times[order], args, throw)
        ys_sorted = solution.ys
        ys = jax.tree_util.tree_map(lambda leaf: leaf[where[:-1]], ys_sorted)
        y_sample = jax.tree_util.tree_map(lambda leaf: leaf[where[-1]], ys_sorted)
        error, stiffness = self.local_regulariser(sample, y_sample, args, max_step=ts[-1] - ts[0])
        return ys, error, stiffness, solution.stats["num_steps"]


class MLPVectorField(eqx.Module):
    r"""An MLP vector field $f_\theta(t, y) = \mathrm{MLP}([y, t])\,(+\,A y)$ for flat states $y \in \mathbb{R}^n$.

    **Arguments:**

    - `size`: state dimension $n$.
    - `width`, `depth`: hidden width and number of hidden layers.
    - `key`: PRNG key for the initial weights.
    - `time_dependent`: feed $t$ as an extra input (default ``False``: autonomous).
    - `activation`: hidden activation (default ``jax.nn.softplus``, smooth as ODE solvers like).
    - `final_scale`: the last layer's initial weights are multiplied by this (small values
      start near $f = 0$, an easy ODE).
    - `linear`: add a learned linear term $A y$ ($A$ starts at zero). Reduced models of
      (nearly) linear PDEs generalise far better with it: the MLP then only learns the
      nonlinear remainder.
    """

    mlp: eqx.nn.MLP
    linear_part: Array | None
    time_dependent: bool = eqx.field(static=True)

    def __init__(
        self,
        size: int,
        width: int = 64,
        depth: int = 2,
        *,
        key: PRNGKeyArray,
        time_dependent: bool = False,
        activation: Callable = jax.nn.softplus,
        final_scale: float = 0.1,
        linear: bool = False,
    ):
        for name, value in (("size", size), ("width", width), ("depth", depth)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
        mlp = eqx.nn.MLP(size + int(time_dependent), size, width, depth, activation=activation, key=key)
        last = mlp.layers[-1]
        mlp = eqx.tree_at(lambda m: m.layers[-1].weight, mlp, last.weight * final_scale)
        self.mlp = mlp
        self.linear_part = jnp.zeros((size, size), mlp.layers[-1].weight.dtype) if linear else None
        self.time_dependent = bool(time_dependent)

    def __call__(self, t, y: Float[Array, " n"], args=None) -> Float[Array, " n"]:
        inputs = jnp.concatenate([y, jnp.reshape(t, (1,)).astype(y.dtype)]) if self.time_dependent else y
        out = self.mlp(inputs)
        if self.linear_part is not None:
            out = out + self.linear_part @ y
        return out
