"""Neural ODEs: learn the dynamics of the leading Fourier modes of 2D heat from an HDF5 dataset.

Generates 2D heat trajectories, encodes each saved field as its Fourier modes with
wavenumbers up to K (:class:`~pdesolve.neural_ode.FourierModes`), and fits a
:class:`~pdesolve.neural_ode.NeuralODE` (an MLP vector field solved by Diffrax, gradients
by the recursive-checkpoint adjoint) to the training trajectories. Test rollouts start from
each test trajectory's first state; the figure compares the learned and true mode
trajectories. Run with ``python examples/neural_ode_modes.py [--quick]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import diffrax
import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pdesolve.datasets import generate, open_dataset  # noqa: E402
from pdesolve.neural_ode import (  # noqa: E402
    FourierModes,
    MLPVectorField,
    NeuralODE,
    evaluate_rollouts,
    fit_neural_ode,
)


def run(out: Path, quick: bool = False) -> dict:
    n, resolution, max_mode, steps = (24, 16, 2, 60) if quick else (128, 16, 3, 1500)
    with tempfile.TemporaryDirectory() as tmp:
        generate("heat2d", n, resolution, Path(tmp) / "heat2d.h5", seed=0, progress=False)
        with open_dataset(Path(tmp) / "heat2d.h5") as data:
            fields = np.moveaxis(data.read_batch(range(n)), -1, 2).astype(np.float64)  # [n, t, c, x, y]
            times = np.asarray(data.coordinates["t"])

    modes = FourierModes((resolution, resolution), max_mode)
    z = np.asarray(jax.vmap(jax.vmap(modes.encode))(jnp.asarray(fields)))  # [n, t, modes]
    n_train = 3 * n // 4
    scale = z[:n_train, 0].std(axis=0) + 1e-6                                # per-mode normalisation
    z = jnp.asarray(z / scale)

    model = NeuralODE(MLPVectorField(modes.size, 64, 2, key=jax.random.PRNGKey(0)),
                      adjoint=diffrax.RecursiveCheckpointAdjoint())
    model, history = fit_neural_ode(model, z[:n_train], jnp.asarray(times), num_steps=steps, learning_rate=3e-3,
                                    batch_size=16, key=jax.random.PRNGKey(1))
    scores = evaluate_rollouts(model, z[n_train:], jnp.asarray(times))

    fig, ax = plt.subplots(figsize=(6, 3.6))
    truth, prediction = np.asarray(z[n_train]), scores["predictions"][0]
    for m in range(min(4, modes.size)):
        line, = ax.plot(times, truth[:, m], lw=2, alpha=0.4)
        ax.plot(times, prediction[:, m], "--", color=line.get_color())
    ax.set(xlabel="t", ylabel="normalised mode amplitude",
           title=f"neural ODE on {modes.size} Fourier modes (test sample; solid: truth, dashed: model)")
    ax.title.set_fontsize(9)
    figure = "neural_ode_modes.png"
    fig.savefig(out / figure, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return {"state_size": modes.size, "train_steps": steps, "final_loss": float(history["loss"][-1]),
            "test_relative_l2": scores["relative_l2"], "nfe": scores["nfe"], "figures": [figure]}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from _common import example_main

    example_main(run, __doc__)
