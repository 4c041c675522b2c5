r"""TDVP / Neural Galerkin baseline: integrate $\dot\theta = \operatorname{lstsq}(J, \mathcal{N}[u_\theta])$ with Diffrax.

The Dirac-Frenkel time-dependent variational principle (Neural Galerkin, Bruna, Peherstorfer &
Vanden-Eijnden 2024; used as the TDVP baseline of TENG, Chen et al. ICML 2024) evolves the
parameters by the ODE

$$ \dot\theta = \operatorname*{arg\,min}_{\eta} \sum_i w_i\,\big|J_i\eta - \mathcal{N}[u_\theta](x_i)\big|^2
   \;(+\lambda\|\eta\|^2),\qquad J_i = \partial u_\theta(x_i)/\partial\theta, $$

solved densely (SVD; singular values below ``rcond`` relative are dropped) at every evaluation
of the vector field. The ODE in $\theta$ is integrated with :func:`diffrax.diffeqsolve`
(fixed-step or adaptive, any Diffrax explicit solver; ``"tsit5"`` by default).
"""

from __future__ import annotations

import time

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .._errors import InvalidInputError
from ..linalg import damped_lstsq
from ._equations import AbstractFieldEquation
from ._marching import MarchResult
from ._teng import check_points_weights

_SOLVERS = {"euler": diffrax.Euler, "heun": diffrax.Heun, "midpoint": diffrax.Midpoint, "bosh3": diffrax.Bosh3,
            "tsit5": diffrax.Tsit5, "dopri5": diffrax.Dopri5}


def tdvp_vector_field(equation: AbstractFieldEquation, unravel, points, weights, ridge: float = 0.0, rcond: float | None = 1e-10):
    r"""The map $\theta \mapsto \dot\theta$ of the TDVP (flat parameter vectors)."""
    sqrt_w = jnp.sqrt(weights)

    def field(t, flat, args):
        del t, args
        net = unravel(flat)
        rows = jax.vmap(jax.grad(lambda p, x: unravel(p)(x)), in_axes=(None, 0))(flat, points)
        rhs = equation.rhs_on(net, points)
        return damped_lstsq(sqrt_w[:, None] * rows, sqrt_w * rhs, ridge, rcond)

    return field


def tdvp_solve(
    net,
    equation: AbstractFieldEquation,
    points,
    weights=None,
    *,
    final_time: float,
    dt: float,
    solver: str = "tsit5",
    adaptive: bool = False,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    ridge: float = 0.0,
    rcond: float | None = 1e-10,
    save_times=None,
    error_fn=None,
    max_steps: int = 100_000,
) -> MarchResult:
    r"""Integrate the TDVP parameter ODE from $t = 0$ to ``final_time`` with Diffrax.

    Args:
        net: initial network (fitted to $u_0$).
        equation: the right-hand side $N[u]$ (as for :class:`TENG`).
        points: collocation points (as for :class:`TENG`).
        weights: quadrature weights of the points (as for :class:`TENG`).
        final_time: end time $T$.
        dt: (initial) step size.
        solver: one of ``euler, heun, midpoint, bosh3, tsit5, dopri5``.
        adaptive: use a ``PIDController(rtol, atol)`` instead of constant steps.
        ridge: Tikhonov regularisation of each least-squares solve.
        rcond: relative singular-value cutoff of each least-squares solve.
        save_times: times at which to report the error (default: 10 equally spaced).
        error_fn: ``error_fn(net, t) -> float``.

    Returns:
        A :class:`MarchResult` (``residuals`` holds the number of accepted steps).
    """
    if solver not in _SOLVERS:
        raise InvalidInputError(f"solver must be one of {tuple(_SOLVERS)}, got {solver!r}")
    if not final_time > 0 or not dt > 0:
        raise InvalidInputError(f"final_time and dt must be positive, got {final_time}, {dt}")
    points, weights = check_points_weights(points, weights)
    flat0, unravel = ravel_pytree(net)
    ts = np.linspace(0.0, final_time, 11) if save_times is None else np.asarray(save_times, float)
    field = tdvp_vector_field(equation, unravel, points, weights, ridge, rcond)
    controller = diffrax.PIDController(rtol=rtol, atol=atol) if adaptive else diffrax.ConstantStepSize()

    @jax.jit
    def run(y0):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(field),
            _SOLVERS[solver](),
            t0=0.0,
            t1=float(final_time),
            dt0=float(dt),
            y0=y0,
            saveat=diffrax.SaveAt(ts=jnp.asarray(ts)),
            stepsize_controller=controller,
            max_steps=int(max_steps),
        )
        return sol.ys, sol.stats["num_accepted_steps"]

    start = time.perf_counter()
    ys, accepted = run(flat0)
    ys = jax.block_until_ready(ys)
    wall = time.perf_counter() - start
    final = unravel(ys[-1])
    result = MarchResult(state=final, wall_s=wall, residuals=[float(accepted)])
    if not bool(jnp.all(jnp.isfinite(ys[-1]))):
        result.errors = [float("nan")]
        result.times = [float(final_time)]
        return result
    if error_fn is not None:
        for t, y in zip(ts, ys):
            result.times.append(float(t))
            result.errors.append(float(error_fn(unravel(y), float(t))))
    result.snapshots = [(float(t), unravel(y)) for t, y in zip(ts, ys)]
    return result
