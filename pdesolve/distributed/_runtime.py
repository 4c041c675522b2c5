"""Start JAX's distributed runtime and split work between processes."""

from __future__ import annotations

import dataclasses
import os

from .._errors import InvalidInputError

COORDINATOR_ENV = "PDESOLVE_COORDINATOR"
NUM_PROCESSES_ENV = "PDESOLVE_NUM_PROCESSES"
PROCESS_ID_ENV = "PDESOLVE_PROCESS_ID"


@dataclasses.dataclass(frozen=True)
class DistributedConfig:
    """Where this process stands: ``process_id`` of ``num_processes`` (``1`` when not distributed)."""

    process_id: int = 0
    num_processes: int = 1

    @property
    def is_main(self) -> bool:
        """True on process 0, the one that links shards and writes checkpoints."""
        return self.process_id == 0


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInputError(f"environment variable {name}={value!r} is not an integer") from None


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> DistributedConfig:
    """Start ``jax.distributed`` for this process and return its :class:`DistributedConfig`.

    Arguments left ``None`` are read from ``PDESOLVE_COORDINATOR`` (``host:port`` of process
    0), ``PDESOLVE_NUM_PROCESSES`` and ``PDESOLVE_PROCESS_ID``. If none of them is set either,
    ``jax.distributed.initialize()`` is called bare, which detects SLURM, Open MPI and other
    cluster environments itself; outside such an environment, with ``num_processes`` unset,
    this returns the single-process configuration without starting anything.

    On CPU the cross-process collectives use gloo (``jax_cpu_collectives_implementation``), so
    the same code runs as several processes on one machine (tests use the loopback address)
    and on several hosts. Call it before any other JAX computation.

    Raises:
        InvalidInputError: on an inconsistent process id / count.
    """
    import jax

    coordinator_address = coordinator_address or os.environ.get(COORDINATOR_ENV) or None
    num_processes = num_processes if num_processes is not None else _env_int(NUM_PROCESSES_ENV)
    process_id = process_id if process_id is not None else _env_int(PROCESS_ID_ENV)
    if num_processes is not None and num_processes < 1:
        raise InvalidInputError(f"num_processes must be >= 1, got {num_processes}")
    if process_id is not None and num_processes is not None and not 0 <= process_id < num_processes:
        raise InvalidInputError(f"process_id {process_id} is outside [0, {num_processes})")
    cluster = any(k in os.environ for k in ("SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE"))
    if num_processes in (None, 1) and coordinator_address is None and not cluster:
        return DistributedConfig()
    if num_processes is not None and num_processes > 1 and (coordinator_address is None or process_id is None):
        raise InvalidInputError(
            "a multi-process run needs the coordinator address and this process's id "
            f"(--coordinator / {COORDINATOR_ENV}, --process-id / {PROCESS_ID_ENV})"
        )
    try:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except (AttributeError, ValueError):  # pragma: no cover - older/newer JAX without the option
        pass
    jax.distributed.initialize(
        coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
    )
    return DistributedConfig(jax.process_index(), jax.process_count())


def shard_range(num_items: int, process_id: int, num_processes: int) -> range:
    """The contiguous block of ``range(num_items)`` that process ``process_id`` owns.

    Blocks differ in length by at most one; the first ``num_items % num_processes`` processes
    get the longer ones. Concatenated in process order they give ``range(num_items)``.
    """
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise InvalidInputError(f"process_id {process_id} is outside [0, {num_processes})")
    if num_items < 0:
        raise InvalidInputError(f"num_items must be >= 0, got {num_items}")
    base, extra = divmod(num_items, num_processes)
    start = process_id * base + min(process_id, extra)
    return range(start, start + base + (process_id < extra))


def barrier(name: str) -> None:
    """Wait until every process reaches this point (no-op in a single process)."""
    import jax

    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
