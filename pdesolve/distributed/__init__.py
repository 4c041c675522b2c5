r"""Scale-out across processes on JAX's own distributed runtime.

- :func:`initialize` starts ``jax.distributed`` from arguments, ``PDESOLVE_*`` environment
  variables, or a cluster JAX detects itself (SLURM, Open MPI, ...); on CPU it selects the gloo
  collectives so several processes on one host (or several hosts) form one device mesh.
- :func:`shard_range` splits ``n`` samples into contiguous per-process blocks.
- :func:`generate_sharded` has every process generate its own block of samples into its own
  HDF5 shard; :func:`link_shards` (run by process 0 after a barrier) joins the shards into one
  virtual dataset (h5py VDS) that :func:`pdesolve.datasets.open_dataset` reads like any file.
"""

from ._generate import generate_sharded as generate_sharded
from ._generate import link_shards as link_shards
from ._generate import shard_path as shard_path
from ._runtime import DistributedConfig as DistributedConfig
from ._runtime import barrier as barrier
from ._runtime import initialize as initialize
from ._runtime import shard_range as shard_range

__all__ = [
    "DistributedConfig",
    "barrier",
    "generate_sharded",
    "initialize",
    "link_shards",
    "shard_path",
    "shard_range",
]
