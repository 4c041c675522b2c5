"""Worker for tests/distributed/test_distributed.py: one tiny FNO training run from an HDF5 file.

``python _distributed_train_worker.py OUT.eqx DATA.h5 PORT PROCESS_ID`` joins a two-process run on
JAX's distributed runtime and prints ``done <process> <steps> read <samples>``, where ``samples``
counts the training samples this process read from the file (each process of a data-parallel run
reads only its rows). The single-process reference imports :func:`train_tiny_fno` in the test's
own process.
"""
import sys


def train_tiny_fno(path, devices):
    """Train the tiny FNO for one epoch on `path`; returns ``(result, samples read by this process)``."""
    import jax

    from pdesolve.datasets import H5Dataset
    from pdesolve.training import TrainConfig, TrajectoryData, train

    samples_read = [0]
    original_read_batch = H5Dataset.read_batch

    def counting_read_batch(self, indices, *args, **kwargs):
        samples_read[0] += len(indices)
        return original_read_batch(self, indices, *args, **kwargs)

    H5Dataset.read_batch = counting_read_batch
    try:
        data = TrajectoryData(path)
        config = TrainConfig(epochs=1, batch_size=8, dtype="float64", devices=devices, eval_every=0, seed=0,
                             learning_rate=1e-2, start="random")
        res = train(tiny_fno(), data, config, progress=False, evaluate_test=False, figures=False)
    finally:
        H5Dataset.read_batch = original_read_batch
    return res, samples_read[0]


def tiny_fno():
    import jax

    from pdesolve.operators import FNO

    return FNO(1, 1, ndim=1, width=4, modes=3, num_layers=1, projection_width=8, key=jax.random.PRNGKey(0))


if __name__ == "__main__":
    out, path, port, process_id = sys.argv[1:5]
    import jax

    from pdesolve.distributed import initialize

    initialize(f"127.0.0.1:{port}", 2, int(process_id))
    jax.config.update("jax_enable_x64", True)
    import equinox as eqx

    res, samples = train_tiny_fno(path, devices=2)
    if jax.process_index() == 0:
        eqx.tree_serialise_leaves(out, res.model)
    print("done", jax.process_index(), res.step, "read", samples)
