"""Neural operators: train an FNO-1D on generated heat data, one-step prediction.

Generates 1D heat trajectories with the reference solver, trains an FNO on one-step pairs
(``u(t) -> u(t + dt)``) with :func:`pdesolve.training.train` (Adam, cosine schedule, a
checkpoint per epoch, loss curve and prediction-vs-truth figures), and reports the test
split's relative L2 error. The same run from the shell is
``pdesolve generate heat1d ... && pdesolve train fno --data FILE.h5 ...``.
Run with ``python examples/fno_heat.py [--quick]``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import jax

from pdesolve.datasets import generate
from pdesolve.training import TrainConfig, TrajectoryData, build_model, train


def run(out: Path, quick: bool = False) -> dict:
    n, resolution, epochs = (24, 32, 2) if quick else (256, 64, 30)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "heat1d.h5"
        generate("heat1d", n, resolution, path, seed=0, progress=False)
        config = TrainConfig(epochs=epochs, batch_size=16, learning_rate=3e-3, schedule="cosine", start="random")
        model = build_model("fno", in_channels=1, out_channels=1, ndim=1, key=jax.random.PRNGKey(0),
                            modes=8 if quick else 16, width=16 if quick else 32)
        with TrajectoryData(path) as data:
            result = train(model, data, config, out=Path(tmp) / "run", progress=False, name="FNO-1D heat")
        figures = {"loss.png": "fno_heat_loss.png", "prediction.png": "fno_heat_prediction.png"}
        for source, target in figures.items():
            shutil.copyfile(Path(tmp) / "run" / source, out / target)
    return {"test_one_step_rel_l2": result.metrics["one_step_rel_l2"], "epochs": epochs,
            "final_train_loss": result.history[-1]["train_loss"], "figures": list(figures.values())}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from _common import example_main

    example_main(run, __doc__)
