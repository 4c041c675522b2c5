r"""Space-time PINN baseline (Raissi, Perdikaris & Karniadakis 2019) for the periodic field problems.

The field is $u_\phi(x, t) = u_0(x) + \tfrac{t}{T}\,g_\phi(x, t)$, so the initial condition
holds exactly; $g_\phi$ (:class:`SpaceTimeMLP`) is a tanh MLP on the periodic embedding of $x$
(as in :class:`PeriodicMLP`) concatenated with $t/T$, so periodicity holds exactly too. Training
minimises the mean squared residual $\big(\partial_t u_\phi - \mathcal{N}[u_\phi(\cdot, t)]\big)^2$
over fresh uniform samples of the box $\times [0, T]$ each iteration, with Adam.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._errors import InvalidInputError, NonFiniteError
from ._equations import AbstractFieldEquation
from ._marching import MarchResult


class SpaceTimeMLP(eqx.Module):
    """$g_\\phi(x, t)$: periodic embedding of $x$ plus $t/T$, then a tanh MLP (scalar output)."""

    amplitude: jax.Array
    phase: jax.Array
    mlp: eqx.nn.MLP
    final_time: float = eqx.field(static=True)

    def __init__(self, key, ndim=2, width=40, depth=3, embedding_size=20, final_time=4.0, dtype=jnp.float64):
        k1, k2, k3 = jax.random.split(key, 3)
        self.amplitude = jax.random.normal(k1, (ndim, embedding_size), dtype)
        self.phase = jax.random.uniform(k2, (ndim, embedding_size), dtype, 0.0, 2 * math.pi)
        self.mlp = eqx.nn.MLP(ndim * embedding_size + 1, "scalar", width, depth, jnp.tanh, key=k3, dtype=dtype)
        self.final_time = float(final_time)

    def __call__(self, x, t):
        h = (self.amplitude * jnp.cos(x[:, None] + self.phase)).ravel()
        return self.mlp(jnp.concatenate([h, jnp.atleast_1d(t / self.final_time)]))


class SpaceTimeField(eqx.Module):
    r"""The PINN solution $u(x, t) = u_0(x) + \tfrac{t}{T} g(x, t)$; :meth:`at` gives $u(\cdot, t)$."""

    network: SpaceTimeMLP
    initial_condition: Callable = eqx.field(static=True)
    final_time: float = eqx.field(static=True)

    def __call__(self, x, t):
        return self.initial_condition(x) + (t / self.final_time) * self.network(x, t)

    def at(self, t: float) -> Callable:
        """The field at time ``t``, a function of one point."""
        return lambda x: self(x, t)


class PINN(eqx.Module):
    r"""Space-time PINN solver (see module doc). Not a time stepper: :meth:`solve` trains one network
    for the whole interval and reports it at the step times $n\,\Delta t$.

    **Arguments:**

    - `equation`: the right-hand side $\mathcal{N}$.
    - `initial_condition`: $u_0$, a function of one point.
    - `lower`, `upper`: the (periodic) box the residual is sampled on.
    - `dt`: spacing of the reported times.
    - `iterations`: Adam iterations.
    - `batch_size`: space-time samples per iteration.
    - `learning_rate`: initial Adam learning rate (cosine-decayed to 1/100).
    """

    equation: AbstractFieldEquation
    initial_condition: Callable = eqx.field(static=True)
    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    iterations: int = eqx.field(static=True)
    batch_size: int = eqx.field(static=True)
    learning_rate: float = eqx.field(static=True)

    def __init__(self, equation: AbstractFieldEquation, initial_condition: Callable, lower, upper, *, dt: float,
                 iterations: int = 2000, batch_size: int = 1024, learning_rate: float = 1e-3):
        lower = tuple(float(v) for v in np.atleast_1d(lower))
        upper = tuple(float(v) for v in np.atleast_1d(upper))
        if len(lower) != len(upper) or any(not b > a for a, b in zip(lower, upper)):
            raise InvalidInputError(f"need lower < upper on every axis, got {lower}, {upper}")
        if int(iterations) < 1 or int(batch_size) < 1:
            raise InvalidInputError("iterations and batch_size must be positive")
        if not dt > 0 or not learning_rate > 0:
            raise InvalidInputError("dt and learning_rate must be positive")
        self.equation, self.initial_condition = equation, initial_condition
        self.lower, self.upper = lower, upper
        self.dt, self.iterations = float(dt), int(iterations)
        self.batch_size, self.learning_rate = int(batch_size), float(learning_rate)

    @property
    def name(self) -> str:
        return "PINN"

    def pde_residual(self, field: SpaceTimeField, x, t):
        r"""$\partial_t u - \mathcal{N}[u(\cdot, t)]$ at one point ``x`` and time ``t``."""
        u_t = jax.grad(field, argnums=1)(x, t)
        return u_t - self.equation.rhs(lambda y: field(y, t), x)

    def solve(self, net: SpaceTimeMLP, num_steps: int, *, key=None, error_fn=None, error_every: int = 10,
              snapshot_every: int | None = None, progress: bool = True,
              max_wall_s: float | None = None) -> MarchResult:
        r"""Train ``net`` (the $g_\phi$ of $T = $ ``net.final_time`` $= $ ``num_steps * dt``) and report.

        Returns a :class:`MarchResult` whose `state` is the trained :class:`SpaceTimeField`;
        `errors` are ``error_fn(state.at(t), t)`` at $t = n\,\Delta t$ for $n = 0$, every
        `error_every` steps and the end; `residuals` the RMS PDE residual at each step time over
        `batch_size` fixed random points; `iterations` zeros (the training serves all steps at
        once); `wall_s` the training time. ``progress`` is unused (one compiled training loop).
        """
        del progress
        if max_wall_s is not None:
            raise InvalidInputError("PINN.solve integrates all steps in one compiled solve; max_wall_s is not supported")
        num_steps = int(num_steps)
        if num_steps < 1 or int(error_every) < 1:
            raise InvalidInputError(f"num_steps and error_every must be >= 1, got {num_steps}, {error_every}")
        final_time = net.final_time
        if not math.isclose(num_steps * self.dt, final_time, rel_tol=1e-9):
            raise InvalidInputError(f"net.final_time = {final_time} but num_steps * dt = {num_steps * self.dt}")
        key = jax.random.PRNGKey(0) if key is None else key
        params, static = eqx.partition(net, eqx.is_inexact_array)
        lo, hi = jnp.asarray(self.lower, jnp.float64), jnp.asarray(self.upper, jnp.float64)
        ndim = len(self.lower)

        def field_of(p):
            return SpaceTimeField(eqx.combine(p, static), self.initial_condition, final_time)

        def loss(p, k):
            kx, kt = jax.random.split(k)
            xs = jax.random.uniform(kx, (self.batch_size, ndim), jnp.float64, lo, hi)
            ts = jax.random.uniform(kt, (self.batch_size,), jnp.float64, 0.0, final_time)
            residuals = jax.vmap(self.pde_residual, in_axes=(None, 0, 0))(field_of(p), xs, ts)
            return jnp.mean(residuals**2)

        tx = optax.adam(optax.cosine_decay_schedule(self.learning_rate, self.iterations, 1e-2))

        @jax.jit
        def train(p, k):
            def body(carry, k):
                p, state = carry
                value, grads = jax.value_and_grad(loss)(p, k)
                updates, state = tx.update(grads, state, p)
                return (optax.apply_updates(p, updates), state), value

            (p, _), values = jax.lax.scan(body, (p, tx.init(p)), jax.random.split(k, self.iterations))
            return p, values[-1]

        start = time.perf_counter()
        params, _ = jax.block_until_ready(train(params, key))
        wall = time.perf_counter() - start
        state = field_of(params)

        times = np.asarray([n * self.dt for n in range(1, num_steps + 1)])
        check = jax.random.uniform(jax.random.fold_in(key, 1), (self.batch_size, ndim), jnp.float64, lo, hi)
        slice_rms = jax.jit(jax.vmap(lambda t: jnp.sqrt(jnp.mean(
            jax.vmap(lambda x: self.pde_residual(state, x, t))(check) ** 2))))
        residuals = np.asarray(slice_rms(jnp.asarray(times)))
        bad = np.flatnonzero(~np.isfinite(residuals))
        if bad.size:
            raise NonFiniteError(int(bad[0]) + 1, float(times[bad[0]]))
        result = MarchResult(state=state, residuals=[float(r) for r in residuals], iterations=[0] * num_steps,
                             wall_s=wall, final_time=float(final_time))
        for n in range(num_steps + 1):
            t = n * self.dt if n < num_steps else final_time
            if error_fn is not None and (n % int(error_every) == 0 or n == num_steps):
                result.times.append(t)
                result.errors.append(float(error_fn(state.at(t), t)))
            if snapshot_every and (n % int(snapshot_every) == 0 or n == num_steps):
                result.snapshots.append((t, state.at(t)))
        return result
