"""Hard constraints: an FNO whose predictions conserve mass exactly.

Periodic heat conserves the total mass M = Σ_i h u_i. A plain FNO trained on heat data only
learns that approximately, so its autoregressive rollouts drift. Wrapping the same FNO in
:class:`~pdesolve.constraints.ConstrainedModel` with a
:class:`~pdesolve.constraints.MassProjection` projects every prediction onto the input's mass
(a closed-form linear projection, differentiated exactly), so the mass is conserved to
rounding. Both models train with the same data, loss and budget; the figure shows the mass
drift of their rollouts on test trajectories. Run with
``python examples/mass_conserving_fno.py [--quick]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pdesolve.constraints import ConstrainedModel, MassProjection  # noqa: E402
from pdesolve.datasets import generate  # noqa: E402
from pdesolve.operators import FNO  # noqa: E402
from pdesolve.training import TrainConfig, TrajectoryData, rollout_model, train  # noqa: E402


def run(out: Path, quick: bool = False) -> dict:
    n, resolution, epochs = (24, 32, 2) if quick else (256, 64, 20)
    h = 2 * np.pi / resolution                                           # heat1d lives on [0, 2π)
    projection = MassProjection(h, shape=(resolution,))                  # M_c = Σ_i h u_{c,i}
    fno = FNO(1, 1, width=16, modes=8, ndim=1, key=jax.random.PRNGKey(0))
    models = {"FNO": fno, "FNO + MassProjection": ConstrainedModel(fno, projection, projection.mass)}
    config = TrainConfig(epochs=epochs, batch_size=16, learning_rate=3e-3, schedule="cosine", dtype="float64")
    drift, errors = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "heat1d.h5"
        generate("heat1d", n, resolution, path, seed=0, progress=False)
        with TrajectoryData(path) as data:
            test = jnp.asarray(data.read(data.indices["test"]), jnp.float64)   # [b, t, c, x]
            for name, model in models.items():
                trained = train(model, data, config, progress=False, figures=False, evaluate_test=False).model

                predicted = jnp.concatenate(                                  # [b, t, c, x]
                    [test[:, :1], jax.vmap(lambda u0: rollout_model(trained, u0, test.shape[1] - 1))(test[:, :1])],
                    axis=1)
                mass = jax.vmap(jax.vmap(projection.mass))(predicted)[..., 0]  # [b, t]
                drift[name] = np.asarray(jnp.max(jnp.abs(mass - mass[:, :1]), axis=0))
                errors[name] = float(jnp.linalg.norm(predicted - test) / jnp.linalg.norm(test))

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, d in drift.items():
        ax.semilogy(np.arange(len(d)), np.maximum(d, 1e-18), marker="o", ms=3, label=name)
    ax.set(xlabel="rollout step", ylabel="max |M(t) - M(0)| over test samples", title="mass drift of FNO rollouts")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    figure = "mass_conserving_fno.png"
    fig.savefig(out / figure, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return {"max_mass_drift": {k: float(v.max()) for k, v in drift.items()}, "rollout_relative_l2": errors,
            "figures": [figure]}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from _common import example_main

    example_main(run, __doc__)
