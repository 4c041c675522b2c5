"""Optimizers: Adam (optax) against diffGrad and Levenberg-Marquardt (pdesolve.optim).

Fits a small tanh MLP to u(x) = sin(3x) + 0.5 cos(7x) on [-1, 1] by least squares, full
batch, with three optax-compatible optimizers driven by the same loop: ``optax.adam``
(re-exported unchanged by pdesolve.optim), pdesolve's ``diffgrad``, and pdesolve's
``levenberg_marquardt``, which takes the residual function as an extra argument to
``update``. The figure shows the loss against the iteration. Run with
``python examples/optimizers.py [--quick]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import optax  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import pdesolve.optim as po  # noqa: E402


def run(out: Path, quick: bool = False) -> dict:
    steps = 60 if quick else 500
    x = jnp.linspace(-1.0, 1.0, 128)[:, None]
    y = jnp.sin(3 * x[:, 0]) + 0.5 * jnp.cos(7 * x[:, 0])
    net = eqx.nn.MLP(1, 1, 16, 2, activation=jnp.tanh, key=jax.random.PRNGKey(0))
    params, static = eqx.partition(net, eqx.is_inexact_array)

    def residual_fn(p):                                   # r(θ): what least squares drives to zero
        return jax.vmap(eqx.combine(p, static))(x)[:, 0] - y

    def loss_fn(p):
        return jnp.mean(residual_fn(p) ** 2)

    optimizers = {
        "adam (optax)": po.adam(1e-2),
        "diffgrad (pdesolve)": po.diffgrad(1e-2),
        "levenberg_marquardt (pdesolve)": po.levenberg_marquardt(),
    }
    curves = {}
    for name, tx in optimizers.items():
        @jax.jit
        def step(p, state, tx=tx):
            value, grads = jax.value_and_grad(loss_fn)(p)
            updates, state = tx.update(grads, state, p, residual_fn=residual_fn)  # extra args are ignored by
            return optax.apply_updates(p, updates), state, value                   # first-order optimizers

        p, state, losses = params, tx.init(params), []
        for _ in range(steps):
            p, state, value = step(p, state)
            losses.append(float(value))
        losses.append(float(loss_fn(p)))
        curves[name] = losses

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, losses in curves.items():
        ax.semilogy(losses, label=name)
    ax.set(xlabel="iteration", ylabel="mean squared residual", title="MLP fit, full batch")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    figure = "optimizers_loss.png"
    fig.savefig(out / figure, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return {"final_loss": {name: losses[-1] for name, losses in curves.items()}, "steps": steps, "figures": [figure]}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from _common import example_main

    example_main(run, __doc__)
