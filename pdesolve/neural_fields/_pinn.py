r"""Space-time PINN baseline (Raissi, Perdikaris & Karniadakis 2019) for the periodic TENG problems.

The network is $u_\phi(x, t) = u_0(x) + \tfrac{t}{T}\,g_\phi(x, t)$, so the initial condition
holds exactly; $g_\phi$ is a tanh MLP on the periodic embedding of $x$ (as in
:class:`PeriodicMLP`) concatenated with $t/T$, so periodicity holds exactly too. Training
minimises the mean squared residual $\big(\partial_t u_\phi - \mathcal{N}[u_\phi(\cdot, t)]\big)^2$
over fresh uniform samples of $[0, L)^d \times [0, T]$ each iteration, with Adam.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from .._errors import InvalidInputError
from ._equations import AbstractFieldEquation


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


def train_pinn(
    equation: AbstractFieldEquation,
    u0: Callable,
    *,
    final_time: float = 4.0,
    extent: float = 2 * math.pi,
    ndim: int = 2,
    iterations: int = 2000,
    batch_size: int = 1024,
    learning_rate: float = 1e-3,
    width: int = 40,
    depth: int = 3,
    key=None,
    error_fn: Callable | None = None,
):
    r"""Train the space-time PINN; returns ``(u, info)`` with ``u(x, t)`` the trained field.

    ``info`` has ``loss`` (final), ``wall_s`` and ``error`` (``error_fn(lambda x: u(x, T), T)``).
    """
    if int(iterations) < 1 or int(batch_size) < 1:
        raise InvalidInputError("iterations and batch_size must be positive")
    key = jax.random.PRNGKey(0) if key is None else key
    key, init_key = jax.random.split(key)
    g = SpaceTimeMLP(init_key, ndim, width, depth, final_time=final_time)
    params, static = eqx.partition(g, eqx.is_inexact_array)

    def field(p, x, t):
        return u0(x) + (t / final_time) * eqx.combine(p, static)(x, t)

    def residual(p, x, t):
        u_t = jax.grad(field, argnums=2)(p, x, t)
        return u_t - equation.rhs(lambda y: field(p, y, t), x)

    def loss(p, k):
        kx, kt = jax.random.split(k)
        xs = jax.random.uniform(kx, (batch_size, ndim), jnp.float64, 0.0, extent)
        ts = jax.random.uniform(kt, (batch_size,), jnp.float64, 0.0, final_time)
        return jnp.mean(jax.vmap(residual, in_axes=(None, 0, 0))(p, xs, ts) ** 2)

    tx = optax.adam(optax.cosine_decay_schedule(learning_rate, int(iterations), 1e-2))

    @jax.jit
    def train(p, k):
        def body(carry, k):
            p, state = carry
            value, grads = jax.value_and_grad(loss)(p, k)
            updates, state = tx.update(grads, state, p)
            return (optax.apply_updates(p, updates), state), value

        (p, _), values = jax.lax.scan(body, (p, tx.init(p)), jax.random.split(k, int(iterations)))
        return p, values[-1]

    start = time.perf_counter()
    params, final_loss = train(params, key)
    final_loss = float(final_loss)
    wall = time.perf_counter() - start

    def u(x, t):
        return field(params, x, t)

    info = {"loss": final_loss, "wall_s": wall}
    if error_fn is not None:
        info["error"] = float(error_fn(lambda x: u(x, final_time), final_time))
    return u, info
