"""Worker for tests/distributed/test_distributed.py: one tiny FNO training run from an HDF5 file, single- or multi-process.

``python _distributed_train_worker.py single|multi OUT.eqx DATA.h5 [PORT PROCESS_ID]``. Prints
``done <process> <steps> read <samples>``, where ``samples`` counts the training samples this
process read from the file (each process of a data-parallel run reads only its rows).
"""
import sys

mode, out, path = sys.argv[1], sys.argv[2], sys.argv[3]
import jax  # noqa: E402

if mode == "multi":
    from pdesolve.distributed import initialize

    initialize(f"127.0.0.1:{sys.argv[4]}", 2, int(sys.argv[5]))
jax.config.update("jax_enable_x64", True)
import equinox as eqx  # noqa: E402

from pdesolve.datasets import H5Dataset  # noqa: E402
from pdesolve.operators import FNO  # noqa: E402
from pdesolve.training import TrainConfig, TrajectoryData, train  # noqa: E402

samples_read = [0]
original_read_batch = H5Dataset.read_batch


def counting_read_batch(self, indices, *args, **kwargs):
    samples_read[0] += len(indices)
    return original_read_batch(self, indices, *args, **kwargs)


H5Dataset.read_batch = counting_read_batch
data = TrajectoryData(path)
config = TrainConfig(epochs=1, batch_size=8, dtype="float64", devices=2 if mode == "multi" else 1,
                     eval_every=0, seed=0, learning_rate=1e-2, start="random")
model = FNO(1, 1, ndim=1, width=4, modes=3, num_layers=1, projection_width=8, key=jax.random.PRNGKey(0))
res = train(model, data, config, progress=False, evaluate_test=False, figures=False)
if jax.process_index() == 0:
    eqx.tree_serialise_leaves(out, res.model)
print("done", jax.process_index(), res.step, "read", samples_read[0])
