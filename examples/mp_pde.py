"""MP-PDE: a message-passing neural PDE solver on the combined equation (experiment E1, Burgers).

Generates E1 trajectories (u_t + (u²/2)_x = δ(t, x) on a periodic domain of length 16, WENO5
ground truth at nx = 200 downsampled to nx = 50), trains an MP-PDE (encoder, message-passing
processor on a radius graph, 1D-convolution decoder emitting K = 25 steps at once, pushforward
trick) and rolls it out autoregressively on test trajectories. The figure compares the rollout
with the ground truth and with our numerical solver run at the same coarse resolution. The
accumulated error is the sum over time of the spatial mean squared error, as in the paper.
Run with ``python examples/mp_pde.py [--quick]``; ``pdesolve train mp-pde`` trains from the shell.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pdesolve.datasets import (  # noqa: E402
    default_steps_per_save,
    generate_combined_dataset,
    load_combined_dataset,
    solve_combined_batch,
)
from pdesolve.metrics import accumulated_error  # noqa: E402
from pdesolve.mp_pde import MPPDE, fit_mp_pde, radius_graph, rollout_mp_pde  # noqa: E402

WINDOW, NX = 25, 50


def run(out: Path, quick: bool = False) -> dict:
    n_train, n_test, hidden, layers, iterations = (8, 2, 64, 2, 30) if quick else (128, 8, 128, 6, 2000)
    with tempfile.TemporaryDirectory() as tmp:
        files = {split: generate_combined_dataset(tmp, "E1", n, split=split, seed=seed, resolutions=(NX,))[NX]
                 for split, n, seed in (("train", n_train, 0), ("test", n_test, 10_000))}
        train, test = (load_combined_dataset(files[s], resolution=NX) for s in ("train", "test"))
    graph = radius_graph(train.x, 3 * 16.0 / NX, 16.0)
    key = jax.random.PRNGKey(0)
    model = MPPDE(dt=float(train.t[1] - train.t[0]), window=WINDOW, hidden=hidden, num_layers=layers, key=key,
                  dtype=jnp.float32)
    model, history = fit_mp_pde(model, train.u, train.params, train.x, train.t, graph, epochs=1,
                                iterations_per_epoch=iterations, batch_size=8, learning_rate=1e-3 if quick else 3e-4,
                                key=key)

    start = 2 * WINDOW                                  # the first 2K frames are given, as in the paper
    steps = test.u.shape[1] - start
    u = jnp.asarray(test.u, jnp.float32)
    rollout = eqx.filter_jit(lambda m, w, t0, th: rollout_mp_pde(m, w, t0, th, jnp.asarray(train.x, jnp.float32),
                                                                 graph, steps))
    predicted = np.asarray(rollout(model, u[:, start - WINDOW : start],
                                   jnp.full((n_test,), test.t[start - 1], jnp.float32), jnp.asarray(test.params, jnp.float32)))
    truth = test.u[:, start:].astype(np.float64)
    times = test.t[start - 1 :]
    substeps = default_steps_per_save("E1", NX, float(times[1] - times[0]))   # CFL-limited WENO5 steps per frame
    solver = solve_combined_batch(test.parameter_dicts(), NX, times, substeps, u0=test.u[:, start - 1])[:, 1:]
    errors = {"MP-PDE": float(np.mean(accumulated_error(predicted.astype(np.float64), truth))),
              f"WENO5 at nx = {NX}": float(np.mean(accumulated_error(solver, truth)))}

    fig, axes = plt.subplots(1, 3, figsize=(10, 3), sharey=True)
    extent = (0, 16, test.t[start], test.t[-1])
    for ax, (title, field) in zip(axes, (("ground truth (nx = 200, downsampled)", truth[0]),
                                         (f"MP-PDE, accumulated error {errors['MP-PDE']:.3g}", predicted[0]),
                                         (f"WENO5 at nx = {NX}, {errors[f'WENO5 at nx = {NX}']:.3g}", solver[0]))):
        ax.imshow(field, aspect="auto", origin="lower", extent=extent, cmap="RdBu_r")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("x")
    axes[0].set_ylabel("t")
    figure = "mp_pde_rollout.png"
    fig.savefig(out / figure, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return {"accumulated_error": errors, "train_iterations": iterations, "final_loss": float(history["loss"][-1]),
            "figures": [figure]}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from _common import example_main

    example_main(run, __doc__)
