"""Worker for tests/test_distributed.py: one tiny FNO training run, single- or multi-process."""
import sys
import numpy as np
mode, out = sys.argv[1], sys.argv[2]
import jax
if mode == "multi":
    from pdesolve.distributed import initialize
    initialize(f"127.0.0.1:{sys.argv[3]}", 2, int(sys.argv[4]))
jax.config.update("jax_enable_x64", True)
import equinox as eqx
from pdesolve.operators import FNO
from pdesolve.training import TrainConfig, TrajectoryData, train
rng = np.random.default_rng(0)
arr = rng.standard_normal((20, 4, 1, 16))
data = TrajectoryData(arr)
config = TrainConfig(epochs=1, batch_size=8, dtype="float64", devices=2 if mode == "multi" else 1,
                     eval_every=0, seed=0, learning_rate=1e-2)
model = FNO(1, 1, ndim=1, width=4, modes=3, num_layers=1, projection_width=8, key=jax.random.PRNGKey(0))
res = train(model, data, config, progress=False, evaluate_test=False, figures=False)
if jax.process_index() == 0:
    eqx.tree_serialise_leaves(out, res.model)
print("done", jax.process_index(), res.step)
