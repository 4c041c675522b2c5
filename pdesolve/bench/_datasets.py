"""``pdesolve bench datasets``: streaming-loader throughput per codec, against naive h5py, a raw read
and the decode bound.

For each compression (default: every one of :data:`~pdesolve.datasets.COMPRESSIONS` that can be
written here; the Blosc codecs need ``hdf5plugin``) one file is generated (recipe ``heat2d``,
one chunk per sample and time step, the same samples in every file) and read completely, in
one run, by

- **ours**: :class:`~pdesolve.datasets.DataLoader` (shuffled batches; each batch's chunks read
  with ``pread`` from an index built at open time and decoded on ``os.cpu_count()`` threads,
  see :mod:`pdesolve.datasets._chunks`; background prefetch of 2 batches);
- **naive h5py** (the anchor): ``ds[i]`` for every sample ``i`` in a shuffled order;
- **raw**: a sequential ``readinto`` of the file's bytes in 8 MiB blocks, with no decoding:
  the physical limit of reading that file.

The readers take turns: each of `repeats` rounds times raw, naive and ours once (each a new
shuffle), and each reader's best round is kept, with the CPU seconds of that epoch (all
threads; on a busy machine steadier than wall time). The file's pages are either left in the
OS page cache (``warm``: the file is read once first) or evicted before every timed epoch
(``cold``) with ``posix_fadvise(POSIX_FADV_DONTNEED)`` on that file -- its pages only; the
system-wide cache is never dropped, since the machine may be shared -- and the fraction of the
file still resident afterwards is checked with ``mincore`` (``resident_after_evict``).

The **decode bound** is what decoding alone allows: ``decode_cpu_s`` is the CPU time of one
thread decoding every chunk of the file once, 32 samples at a time, with the chunk bytes already
in memory (:meth:`~pdesolve.datasets.H5Dataset.decode_seconds`; unfiltered chunks count as a
copy), best of `repeats`; divided by the cores this process may run on it is ``decode_bound_s``,
the shortest epoch any reader on those cores can reach. Throughput is samples/s;
``speedup_vs_naive = naive_s / ours_s``, ``fraction_of_raw = raw_s / ours_s``,
``fraction_of_decode_bound = decode_bound_s / ours_s`` and ``fraction_of_bound = max(raw_s,
decode_bound_s) / ours_s``. Wall times need idle cores; on a machine shared with other jobs,
``decode_share_of_cpu = decode_cpu_s / cpu_s_ours`` (the share of our loader's CPU time that is
decoding) is the steadier figure: the fraction of the decode bound ours would reach on idle
cores, were its threads perfectly parallel. Before timing, one shuffled epoch of our loader is compared sample
by sample with h5py: ``error_ours`` is the largest absolute difference (0 when the bytes agree);
``error_anchor`` is 0 (h5py is the reference). Our time includes opening the file every epoch
(validation and the chunk index); that part alone is reported as ``open_s_ours``.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import resource
import tempfile
import time
from collections.abc import Callable, Sequence

import numpy as np

from .._errors import InvalidInputError

_BLOCK = 8 * 2**20
COLD_CACHE_METHOD = "posix_fadvise(POSIX_FADV_DONTNEED) on the file before every timed epoch"


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


def _resident_fraction(path: str) -> float | None:
    """Fraction of `path`'s pages in the OS page cache (``mincore``), or None where it cannot be asked."""
    size = os.path.getsize(path)
    if size == 0 or os.name != "posix":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        mincore = libc.mincore
        mincore.restype, mincore.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) as view:
            pages = -(-size // mmap.PAGESIZE)
            vector = (ctypes.c_ubyte * pages)()
            anchor = ctypes.c_char.from_buffer(view)  # never written: no page is copied
            try:
                if mincore(ctypes.addressof(anchor), size, vector) != 0:
                    return None
            finally:
                del anchor
            return float(np.count_nonzero(np.frombuffer(vector, np.uint8) & 1)) / pages
    except (OSError, AttributeError, ValueError, TypeError):
        return None


def _raw_read(path: str) -> int:
    buffer = bytearray(_BLOCK)
    view = memoryview(buffer)
    total = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            count = f.readinto(view)
            if not count:
                return total
            total += count


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
    with open_dataset(path) as data, h5py.File(path, "r") as f:  # open_dataset first: it loads the filters
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


def _cores() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _rounds(readers: dict[str, Callable[[int], object]], repeats: int, path: str, cold: bool) -> dict:
    """Each round times every reader once (evicting the file first when `cold`); the best round of each.

    Returns ``{name: (wall seconds, CPU seconds)}`` and, under ``"resident_after_evict"``, the
    largest fraction of the file found in the page cache right after an eviction.
    """
    best = {name: (float("inf"), float("inf")) for name in readers}
    resident = 0.0
    for r in range(repeats):
        for name, fn in readers.items():
            if cold:
                _evict(path)
                fraction = _resident_fraction(path)
                resident = None if fraction is None or resident is None else max(resident, fraction)
            start, cpu = time.perf_counter(), _cpu_seconds()
            fn(r)
            best[name] = min(best[name], (time.perf_counter() - start, _cpu_seconds() - cpu))
    best["resident_after_evict"] = resident if cold else None
    return best


def _available(compressions: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    from ..datasets import COMPRESSIONS

    chosen, skipped = [], {}
    for name in compressions:
        if name not in COMPRESSIONS:
            raise InvalidInputError(f"compression must be one of {', '.join(COMPRESSIONS)}, got {name!r}")
        if name.startswith("blosc"):
            try:
                import hdf5plugin  # noqa: F401
            except ImportError:
                skipped[name] = 'needs hdf5plugin: pip install "pdesolve[fast-io]"'
                continue
        if name not in chosen:
            chosen.append(name)
    return chosen, skipped


def run_datasets_benchmark(
    *,
    quick: bool = False,
    num_samples: int | None = None,
    resolution: int | None = None,
    batch_size: int = 32,
    repeats: int | None = None,
    caches: tuple[str, ...] = ("warm", "cold"),
    path: str | None = None,
    directory: str | None = None,
    compression: str | Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Time our loader, naive h5py and a raw read on one generated ``heat2d`` file per codec.

    **Arguments:**

    - `quick`: a tiny file (64 samples at 32^2) and one repeat, for a smoke test.
    - `num_samples`, `resolution`: the file (default 1024 samples at 64^2, 21 frames each:
      344 KiB per sample, 336 MiB decoded).
    - `batch_size`: the loader's batch size.
    - `repeats`: timed rounds per cache state (best kept; default 3, quick 1).
    - `caches`: ``"warm"`` and/or ``"cold"`` page cache (see the module docstring).
    - `compression`: one codec of :data:`~pdesolve.datasets.COMPRESSIONS` or several (default:
      all of them; the Blosc codecs are skipped, and listed under ``"skipped"``, without
      ``hdf5plugin``).
    - `path`: reuse (or create) the file here (one codec only); `directory`: reuse (or create)
      ``heat2d_<n>x<r>_<codec>.h5`` files there. Default: a temporary directory.
    - `progress`: called with a line of text as the benchmark proceeds.

    Returns ``{"results": [...], "file": {...}, "files": [...], ...}``: one result per codec and
    cache state with the standard keys (``ours_s`` and ``anchor_s`` are seconds per epoch;
    ``anchor = "naive h5py"``) plus ``compression``, ``speedup_vs_naive``, ``fraction_of_raw``,
    ``raw_s``, ``decode_cpu_s``, ``decode_bound_s``, ``fraction_of_decode_bound``,
    ``decode_share_of_cpu``, ``bound_s``,
    ``fraction_of_bound``, ``size_bytes``, ``size_vs_gzip``, CPU seconds and samples/s of each
    reader; ``file`` describes the first codec's file (``files``: every codec's), and
    ``cold_cache_method`` says how the cold cache was made.
    """
    from ..datasets import COMPRESSIONS, generate, open_dataset

    say = progress or (lambda message: None)
    n = num_samples or (64 if quick else 1024)
    r = resolution or (32 if quick else 64)
    repeats = repeats or (1 if quick else 3)
    for cache in caches:
        if cache not in ("warm", "cold"):
            raise InvalidInputError(f"cache must be 'warm' or 'cold', got {cache!r}")
    requested = COMPRESSIONS if compression is None else (
        (compression,) if isinstance(compression, str) else tuple(compression))
    codecs, skipped = _available(requested)
    if path is not None and len(requested) != 1:
        raise InvalidInputError(f"path names one file, but {len(requested)} compressions were asked for; use directory")
    cores = _cores()
    results, files = [], []
    with tempfile.TemporaryDirectory(prefix="pdesolve-bench-") as tmp:
        folder = directory or tmp
        os.makedirs(folder, exist_ok=True)
        paths = {c: path or os.path.join(folder, f"heat2d_{n}x{r}_{c}.h5") for c in codecs}
        for codec, file in paths.items():
            if not os.path.exists(file):
                say(f"generating {file} (heat2d, {n} samples at {r}^2, {codec})")
                start = time.perf_counter()
                generate("heat2d", n, r, file, progress=False, batch_size=min(n, 64), compression=codec)
                say(f"generated in {time.perf_counter() - start:.1f} s")
        sizes = {codec: os.path.getsize(file) for codec, file in paths.items()}
        for codec, file in paths.items():
            size = sizes[codec]
            with open_dataset(file) as data:
                n, sample_shape = data.num_samples, data.sample_shape
                decoded = data.sample_nbytes * data.num_samples
                direct, threads = data.direct, data.threads
                say(f"{codec}: decode cost (one thread, chunk bytes in memory)")
                decode_cpu = min(data.decode_seconds() for _ in range(repeats)) if direct else None
            files.append({
                "recipe": "heat2d",
                "num_samples": n,
                "sample_shape": list(sample_shape),
                "size_bytes": size,
                "decoded_bytes": decoded,
                "compression": codec + ("+shuffle" if codec != "none" else ""),
                "chunks": "one per sample and time step",
                "size_vs_gzip": size / sizes["gzip"] if "gzip" in sizes else None,
            })
            order = np.random.default_rng(0).permutation(n)
            say(f"{codec}: checking our loader's samples against h5py")
            error = _max_difference(file, batch_size)
            for cache in caches:
                cold = cache == "cold"
                if cold and not _evict(file):
                    say("cannot evict the file from the page cache here; skipping the cold run")
                    continue
                if not cold:
                    _raw_read(file)  # warm the cache for everyone
                say(f"{codec}, {cache} cache: raw read, naive h5py and our loader, {repeats} rounds")
                times = _rounds({
                    "raw": lambda k: _raw_read(file),
                    "naive": lambda k: _naive(file, np.roll(order, k)),
                    "ours": lambda k: _loader(file, batch_size, k),
                }, repeats, file, cold)
                (raw_s, raw_cpu), (naive_s, naive_cpu), (ours_s, ours_cpu) = times["raw"], times["naive"], times["ours"]
                # Part of ours_s: opening the file, which builds the chunk index (once per open).
                open_s = _rounds({"open": lambda k: open_dataset(file).close()}, repeats, file, cold)["open"][0]
                decode_bound = decode_cpu / cores if decode_cpu is not None else None
                bound = max(raw_s, decode_bound) if decode_bound is not None else raw_s
                results.append({
                    "name": f"heat2d {n}x{sample_shape} {codec} ({size / 2**20:.0f} MiB), {cache} page cache",
                    "ours_s": ours_s,
                    "anchor": "naive h5py",
                    "anchor_s": naive_s,
                    "ratio": naive_s / ours_s,
                    "error_ours": error,
                    "error_anchor": 0.0,
                    "compression": codec,
                    "speedup_vs_naive": naive_s / ours_s,
                    "fraction_of_raw": raw_s / ours_s,
                    "raw_s": raw_s,
                    "decode_cpu_s": decode_cpu,
                    "decode_bound_s": decode_bound,
                    "fraction_of_decode_bound": decode_bound / ours_s if decode_bound is not None else None,
                    "decode_share_of_cpu": decode_cpu / ours_cpu if decode_cpu is not None and ours_cpu > 0 else None,
                    "bound_s": bound,
                    "fraction_of_bound": bound / ours_s,
                    "size_bytes": size,
                    "size_vs_gzip": size / sizes["gzip"] if "gzip" in sizes else None,
                    "open_s_ours": open_s,
                    "cpu_s_ours": ours_cpu,
                    "cpu_s_naive": naive_cpu,
                    "cpu_s_raw": raw_cpu,
                    "load_average": os.getloadavg()[0],
                    "samples_per_s_ours": n / ours_s,
                    "samples_per_s_naive": n / naive_s,
                    "samples_per_s_raw": n / raw_s,
                    "samples_per_s_decode_bound": n / decode_bound if decode_bound else None,
                    "page_cache": cache,
                    "cold_cache_method": COLD_CACHE_METHOD if cold else None,
                    "resident_after_evict": times["resident_after_evict"],
                    "direct_chunk_reads": direct,
                    "threads": threads,
                    "cores": cores,
                    "batch_size": batch_size,
                    "repeats": repeats,
                })
    return {
        "results": results,
        "file": files[0] if files else None,
        "files": files,
        "skipped": skipped,
        "cold_cache_method": COLD_CACHE_METHOD,
        "cpu_count": os.cpu_count(),
        "cores": cores,
    }


def _rate(value: float | None) -> str:
    return f"{value:>8.0f}" if value is not None else f"{'-':>8}"


def _percent(value: float | None) -> str:
    return f"{100 * value:>6.0f}%" if value is not None else f"{'-':>7}"


def format_datasets_table(result: dict) -> str:
    """Render :func:`run_datasets_benchmark`'s result as a text table (samples/s)."""
    files = result.get("files") or ([result["file"]] if result.get("file") else [])
    lines = []
    if files:
        f = files[0]
        lines.append(
            f"file: {f['recipe']}, {f['num_samples']} samples of {tuple(f['sample_shape'])} float32 "
            f"({f['decoded_bytes'] / 2**20:.1f} MiB decoded), one chunk per sample and time step; "
            f"{result.get('cores', result['cpu_count'])} cores"
        )
    sizes = {f["compression"].split("+")[0]: f for f in files}
    lines.append(
        f"{'codec':<11} {'MiB':>6} {'x gzip':>6} {'cache':<5} {'ours':>8} {'naive':>8} {'raw':>8} {'decode':>8} "
        f"{'x naive':>7} {'of raw':>7} {'of dec.':>7}"
    )
    for r in result["results"]:
        codec = r.get("compression", files[0]["compression"].split("+")[0] if files else "?")
        size = sizes.get(codec, {}).get("size_bytes", r.get("size_bytes", 0))
        vs_gzip = r.get("size_vs_gzip")
        lines.append(
            f"{codec:<11} {size / 2**20:>6.1f} {vs_gzip if vs_gzip is not None else float('nan'):>6.2f} "
            f"{r['page_cache']:<5} {_rate(r['samples_per_s_ours'])} {_rate(r['samples_per_s_naive'])} "
            f"{_rate(r['samples_per_s_raw'])} {_rate(r.get('samples_per_s_decode_bound'))} "
            f"{r['speedup_vs_naive']:>7.2f} {_percent(r['fraction_of_raw'])} {_percent(r.get('fraction_of_decode_bound'))}"
        )
    lines.append(
        "(samples/s; raw = sequential read of the file's bytes, no decoding; decode = the decode bound, one "
        "thread's decoding CPU time divided by the cores; cold = " + result.get("cold_cache_method", COLD_CACHE_METHOD) + ")"
    )
    for r in result["results"]:
        resident = r.get("resident_after_evict")
        lines.append(
            f"{r.get('compression', ''):<11} {r['page_cache']:<5} CPU s per epoch: ours {r['cpu_s_ours']:.2f}, naive "
            f"{r['cpu_s_naive']:.2f}, raw {r['cpu_s_raw']:.2f}, decoding alone "
            f"{r['decode_cpu_s'] if r.get('decode_cpu_s') is not None else float('nan'):.2f}; open "
            f"{r.get('open_s_ours', 0.0):.3f} s; load {r['load_average']:.1f}; {r.get('threads', 1)} threads"
            + (f"; decoding is {100 * r['decode_share_of_cpu']:.0f}% of ours" if r.get("decode_share_of_cpu") else "")
            + (f"; {100 * resident:.0f}% resident after eviction" if resident is not None else "")
        )
    for codec, reason in (result.get("skipped") or {}).items():
        lines.append(f"{codec}: skipped ({reason})")
    return "\n".join(lines)
