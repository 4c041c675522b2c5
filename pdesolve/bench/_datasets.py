"""``pdesolve bench datasets``: streaming-loader throughput against naive h5py and a raw read.

One file is generated (recipe ``heat2d``, gzip + shuffle, one chunk per sample and time
step) and read completely, in one run, by

- **ours**: :class:`~pdesolve.datasets.DataLoader` (shuffled batches; each batch's chunks read
  with ``pread`` from an index built at open time and decoded on ``os.cpu_count()`` threads,
  see :mod:`pdesolve.datasets._chunks`; background prefetch of 2 batches);
- **naive h5py** (the anchor): ``ds[i]`` for every sample ``i`` in a shuffled order;
- **raw**: a sequential ``readinto`` of the file's bytes in 8 MiB blocks, with no decoding:
  the physical limit of reading that file.

Each reader's time is the best of `repeats` epochs (each a new shuffle); the CPU seconds of
that epoch (all threads) are reported too, since on a busy machine they are steadier than
wall time. The file's pages are
either left in the OS page cache (``warm``: the file was just written and is read once first)
or evicted before every timed epoch with ``posix_fadvise(DONTNEED)`` (``cold``) -- the same
for all readers. Throughput is samples/s; ``speedup_vs_naive = naive_s / ours_s`` and
``fraction_of_raw = raw_s / ours_s``. Before timing, one shuffled epoch of our loader is
compared sample by sample with h5py: ``error_ours`` is the largest absolute difference (0 when
the bytes agree); ``error_anchor`` is 0 (h5py is the reference). Our time includes opening the
file every epoch (validation and the chunk index); that part alone is reported as ``open_s_ours``.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from collections.abc import Callable

import numpy as np

_BLOCK = 8 * 2**20


def _evict(path: str) -> bool:
    """Drop `path`'s pages from the OS page cache (only this file's); returns whether it could."""
    if not hasattr(os, "posix_fadvise"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _raw_read(path: str) -> float:

    buffer = bytearray(_BLOCK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(view):
            pass
    return 0.0


def _naive(path: str, order: np.ndarray) -> int:
    import h5py

    count = 0
    with h5py.File(path, "r") as f:
        ds = f["tensor"]
        for i in order:
            count += len(ds[int(i)])
    return count


def _loader(path: str, batch_size: int, seed: int) -> int:
    from ..datasets import DataLoader, open_dataset

    count = 0
    with open_dataset(path) as data:
        loader = DataLoader(data, batch_size, split="all", seed=seed, prefetch=2)
        for batch in loader:
            count += len(batch)
    return count


def _max_difference(path: str, batch_size: int) -> float:
    """Largest |ours - h5py| over one shuffled epoch of our loader (untimed correctness check)."""
    import h5py

    from ..datasets import DataLoader, open_dataset

    worst = 0.0
    with h5py.File(path, "r") as f, open_dataset(path) as data:
        ds = f["tensor"]
        loader = DataLoader(data, batch_size, split="all", seed=123, with_indices=True)
        seen = 0
        for idx, batch in loader:
            seen += len(idx)
            for k, i in enumerate(idx):
                worst = max(worst, float(np.max(np.abs(batch[k] - ds[int(i)]))))
        if seen != data.num_samples:
            raise RuntimeError(f"the loader yielded {seen} samples, expected {data.num_samples}")
    return worst


def _cpu_seconds() -> float:
    """CPU time of this process, all threads (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _best(fn: Callable[[int], float], repeats: int, path: str, cold: bool) -> tuple[float, float]:
    """Best wall-clock seconds of `repeats` calls ``fn(k)``, and the CPU seconds of that call."""
    best = (float("inf"), float("inf"))
    for r in range(repeats):
        if cold:
            _evict(path)
        start, cpu = time.perf_counter(), _cpu_seconds()
        fn(r)
        best = min(best, (time.perf_counter() - start, _cpu_seconds() - cpu))
    return best


def run_datasets_benchmark(
    *,
    quick: bool = False,
    num_samples: int | None = None,
    resolution: int | None = None,
    batch_size: int = 32,
    repeats: int | None = None,
    caches: tuple[str, ...] = ("warm", "cold"),
    path: str | None = None,
    compression: str = "gzip",
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Time our loader, naive h5py and a raw read on one generated ``heat2d`` file.

    **Arguments:**

    - `quick`: a tiny file (64 samples at 32^2) and one repeat, for a smoke test.
    - `num_samples`, `resolution`: the file (default 1024 samples at 64^2, 21 frames each:
      344 KiB per sample, 352 MiB decoded).
    - `batch_size`: the loader's batch size.
    - `repeats`: timed epochs per reader and cache state (best is kept; default 3, quick 1).
    - `caches`: ``"warm"`` and/or ``"cold"`` page cache (see the module docstring).
    - `path`: reuse (or create) the file here instead of a temporary directory.
    - `progress`: called with a line of text as the benchmark proceeds.

    Returns ``{"results": [...], "file": {...}}``, one result per cache state with the standard
    keys (``ours_s`` and ``anchor_s`` are seconds per epoch; ``anchor = "naive h5py"``) plus
    ``speedup_vs_naive``, ``fraction_of_raw``, ``raw_s``, CPU seconds and samples/s of each.
    """
    from ..datasets import generate

    say = progress or (lambda message: None)
    n = num_samples or (64 if quick else 1024)
    r = resolution or (32 if quick else 64)
    repeats = repeats or (1 if quick else 3)
    for cache in caches:
        if cache not in ("warm", "cold"):
            raise ValueError(f"cache must be 'warm' or 'cold', got {cache!r}")
    with tempfile.TemporaryDirectory(prefix="pdesolve-bench-") as tmp:
        file = path or os.path.join(tmp, f"heat2d_{n}x{r}_{compression}.h5")
        if not os.path.exists(file):
            say(f"generating {file} (heat2d, {n} samples at {r}^2)")
            start = time.perf_counter()
            generate("heat2d", n, r, file, progress=False, batch_size=min(n, 64), compression=compression)
            say(f"generated in {time.perf_counter() - start:.1f} s")
        size = os.path.getsize(file)
        from ..datasets import open_dataset

        with open_dataset(file) as data:
            n, sample_shape, decoded = data.num_samples, data.sample_shape, data.sample_nbytes * data.num_samples
            direct, threads = data.direct, data.threads
        order = np.random.default_rng(0).permutation(n)
        say("checking our loader's samples against h5py")
        error = _max_difference(file, batch_size)
        results = []
        for cache in caches:
            cold = cache == "cold"
            evictable = _evict(file) if cold else None
            if cold and not evictable:
                say("cannot evict the file from the page cache here; skipping the cold run")
                continue
            if not cold:
                _raw_read(file)  # warm the cache for everyone
            say(f"{cache} cache: raw read")
            raw_s, raw_cpu = _best(lambda k: _raw_read(file), repeats, file, cold)
            say(f"{cache} cache: naive h5py")
            naive_s, naive_cpu = _best(lambda k: _naive(file, np.roll(order, k)), repeats, file, cold)
            say(f"{cache} cache: our loader")
            ours_s, ours_cpu = _best(lambda k: _loader(file, batch_size, k), repeats, file, cold)
            # Part of ours_s: opening the file, which builds the chunk index (once per open).
            open_s, _ = _best(lambda k: open_dataset(file).close(), repeats, file, cold)
            results.append({
                "name": f"heat2d {n}x{sample_shape} ({size / 2**20:.0f} MiB), {cache} page cache",
                "ours_s": ours_s,
                "anchor": "naive h5py",
                "anchor_s": naive_s,
                "ratio": naive_s / ours_s,
                "error_ours": error,
                "error_anchor": 0.0,
                "speedup_vs_naive": naive_s / ours_s,
                "fraction_of_raw": raw_s / ours_s,
                "raw_s": raw_s,
                "open_s_ours": open_s,
                "cpu_s_ours": ours_cpu,
                "cpu_s_naive": naive_cpu,
                "cpu_s_raw": raw_cpu,
                "load_average": os.getloadavg()[0],
                "samples_per_s_ours": n / ours_s,
                "samples_per_s_naive": n / naive_s,
                "samples_per_s_raw": n / raw_s,
                "page_cache": cache,
                "direct_chunk_reads": direct,
                "threads": threads,
                "batch_size": batch_size,
                "repeats": repeats,
            })
    return {
        "results": results,
        "file": {
            "recipe": "heat2d",
            "num_samples": n,
            "sample_shape": list(sample_shape),
            "size_bytes": size,
            "decoded_bytes": decoded,
            "compression": compression + ("+shuffle" if compression != "none" else ""),
            "chunks": "one per sample and time step",
        },
        "cpu_count": os.cpu_count(),
    }


def format_datasets_table(result: dict) -> str:
    """Render :func:`run_datasets_benchmark`'s result as a text table (samples/s)."""
    f = result["file"]
    lines = [
        f"file: {f['recipe']}, {f['num_samples']} samples of {tuple(f['sample_shape'])} float32, "
        f"{f['size_bytes'] / 2**20:.1f} MiB on disk ({f['decoded_bytes'] / 2**20:.1f} MiB decoded), {f['compression']}",
        f"{'page cache':<11} {'ours':>10} {'naive':>10} {'raw':>10} {'x naive':>8} {'of raw':>7}",
    ]
    for r in result["results"]:
        lines.append(
            f"{r['page_cache']:<11} {r['samples_per_s_ours']:>10.0f} "
            f"{r['samples_per_s_naive']:>10.0f} {r['samples_per_s_raw']:>10.0f} {r['speedup_vs_naive']:>8.2f} "
            f"{100 * r['fraction_of_raw']:>6.0f}%"
        )
    lines.append("(samples/s; raw = sequential read of the file's bytes, no decoding)")
    for r in result["results"]:
        lines.append(
            f"CPU seconds per epoch ({r['page_cache']}): ours {r['cpu_s_ours']:.2f}, naive {r['cpu_s_naive']:.2f}, "
            f"raw {r['cpu_s_raw']:.2f}; 1-min load average {r['load_average']:.1f} on {result['cpu_count']} CPUs; "
            f"{r.get('threads', 1)} decoding threads; ours includes {r.get('open_s_ours', 0.0):.3f} s to open the file "
            f"(chunk index)"
        )
    return "\n".join(lines)
