"""Command-line options shared by the sub-commands that run as cooperating processes."""

from __future__ import annotations


def add_distributed_arguments(parser, what: str) -> None:
    """Add ``--distributed``, ``--coordinator``, ``--num-processes`` and ``--process-id``."""
    group = parser.add_argument_group(
        "multi-process runs (jax.distributed)",
        f"Run one process per host (or several on one host); {what} Defaults come from "
        "PDESOLVE_COORDINATOR, PDESOLVE_NUM_PROCESSES and PDESOLVE_PROCESS_ID; under SLURM JAX finds them itself.",
    )
    group.add_argument("--distributed", action="store_true",
                       help="join the jax.distributed run described by these options or the environment")
    group.add_argument("--coordinator", default=None, help="host:port of process 0")
    group.add_argument("--num-processes", type=int, default=None)
    group.add_argument("--process-id", type=int, default=None)


def initialize_from_arguments(args):
    """Start ``jax.distributed`` when ``--distributed`` was given; returns the DistributedConfig."""
    from ..distributed import DistributedConfig, initialize

    if not getattr(args, "distributed", False):
        return DistributedConfig()
    return initialize(args.coordinator, args.num_processes, args.process_id)
