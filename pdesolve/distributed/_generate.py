"""Sharded dataset generation: one HDF5 shard per process, linked into one virtual dataset."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np

from .._errors import DatasetError
from ..datasets import generate, validate_file
from ..datasets import SEEDS, TENSOR
from ._runtime import DistributedConfig, barrier, shard_range


def shard_path(out, process_id: int, num_processes: int) -> str:
    """The shard file of process ``process_id``: ``<out stem>.shard-<k>-of-<n>.h5``."""
    out = os.fspath(out)
    stem = out[:-3] if out.endswith(".h5") else out
    return f"{stem}.shard-{process_id:05d}-of-{num_processes:05d}.h5"


def link_shards(shards: Sequence[str], out) -> str:
    """Join complete shard files into ``out``, whose ``tensor`` is a virtual dataset (VDS).

    ``tensor`` maps its sample blocks onto the shards' ``tensor`` datasets in order (paths stored
    relative to ``out``'s folder, so the folder can move); ``seeds`` is copied; coordinates and
    attributes come from the first shard, with the ``config``'s ``num_samples`` and ``seed`` set
    to those of the joined file. The result passes :func:`pdesolve.datasets.validate_file`.
    Written to ``out + ".tmp"`` and renamed, like every pdesolve dataset.

    Raises:
        DatasetError: if a shard is incomplete or the shards disagree on layout or recipe.
    """
    import h5py

    out = os.fspath(out)
    if not shards:
        raise DatasetError(f"{out}: no shard files to link")
    infos = [validate_file(s, check_data=False) for s in shards]
    first = infos[0]
    for shard, info in zip(shards, infos):
        if info.sample_shape != first.sample_shape:
            raise DatasetError(f"{shard}: sample shape {info.sample_shape} differs from {first.sample_shape} of {shards[0]}")
        a = {k: v for k, v in info.config.items() if k not in ("num_samples", "seed", "batch_size")}
        b = {k: v for k, v in first.config.items() if k not in ("num_samples", "seed", "batch_size")}
        if a != b:
            raise DatasetError(f"{shard}: recipe differs from {shards[0]}; shards must come from one generation")
    counts = [info.num_samples for info in infos]
    total = int(sum(counts))
    folder = os.path.dirname(os.path.abspath(out))
    layout = h5py.VirtualLayout(shape=(total, *first.sample_shape), dtype=np.float32)
    seeds = np.empty(total, np.int64)
    start = 0
    for shard, count in zip(shards, counts):
        rel = os.path.relpath(os.path.abspath(shard), folder)
        layout[start:start + count] = h5py.VirtualSource(rel, TENSOR, shape=(count, *first.sample_shape))
        with h5py.File(shard, "r") as f:
            seeds[start:start + count] = f[SEEDS][:]
        start += count
    tmp = out + ".tmp"
    with h5py.File(shards[0], "r") as src, h5py.File(tmp, "w") as dst:
        dst.create_virtual_dataset(TENSOR, layout, fillvalue=np.float32(np.nan))
        for name, item in src.items():
            if name not in (TENSOR, SEEDS):
                src.copy(item, dst, name)
        dst.create_dataset(SEEDS, data=seeds)
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        config = dict(first.config, num_samples=total, seed=int(seeds[0]))
        dst.attrs["config"] = json.dumps(config, sort_keys=True)
        dst.attrs["num_complete"] = total
        dst.attrs["shards"] = json.dumps([os.path.relpath(os.path.abspath(s), folder) for s in shards])
    os.replace(tmp, out)
    validate_file(out)
    return out


def generate_sharded(
    recipe: str,
    n: int,
    resolution: int,
    out,
    distributed: DistributedConfig,
    *,
    seed: int = 0,
    **options,
) -> str:
    """Generate ``n`` samples across processes; every process calls this with the same arguments.

    Process ``k`` of ``p`` solves samples ``shard_range(n, k, p)`` (seeds ``seed + i``, exactly
    those of a single-process run) into :func:`shard_path` ``(out, k, p)`` with
    :func:`pdesolve.datasets.generate` (atomic, resumable: ``options`` are passed on, e.g.
    ``resume=True``, ``batch_size``). After a barrier, process 0 links the shards into ``out``
    (:func:`link_shards`); the others wait at a second barrier until it has. In a single process
    this is plain :func:`~pdesolve.datasets.generate` into ``out``. Returns ``out``.
    """
    out = os.fspath(out)
    k, p = distributed.process_id, distributed.num_processes
    if p == 1:
        generate(recipe, n, resolution, out, seed=seed, **options)
        return out
    block = shard_range(n, k, p)
    if len(block) == 0:
        raise DatasetError(f"{out}: {n} samples cannot be spread over {p} processes (process {k} would get none)")
    generate(recipe, len(block), resolution, shard_path(out, k, p), seed=seed + block.start, **options)
    barrier("pdesolve-generate-shards-written")
    if distributed.is_main:
        link_shards([shard_path(out, i, p) for i in range(p)], out)
    barrier("pdesolve-generate-linked")
    return out
