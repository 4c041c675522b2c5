r"""One reader for pdesolve's own files and both PDEBench HDF5 layouts.

:func:`open_dataset` returns an :class:`H5Dataset` whose samples are always numpy arrays
shaped ``[t, x(, y(, z)), channel]`` (channel last, a channel axis added when the file has
none). Three layouts are recognised:

- ``pdesolve-v1`` (see :mod:`pdesolve.datasets._layout`), validated on opening;
- PDEBench single-file: a root dataset ``tensor`` shaped ``[sample, t, x(, y), (channel)]`` with
  ``x-coordinate`` / ``y-coordinate`` / ``t-coordinate``. Whether a channel axis is present
  is read from the number of space coordinates (or from `spatial_ndim`). PDEBench's 1D files
  store one more time coordinate than time steps; the first ``t`` are kept;
- PDEBench grouped: one group per seed (``0000``, ``0001``, ...), each with ``data``
  ``[t, x(, y), (channel)]`` and ``grid/x``, ``grid/y``, ``grid/t``.

Reads never load a whole file. :meth:`H5Dataset.read_batch` touches exactly the chunks (one per
sample and time step in a pdesolve file) that hold the requested samples and time steps. When
the storage allows it (chunks of one sample and full space; shuffle, gzip, LZF and/or Blosc2
filters; not a virtual dataset) it reads them itself, with positioned reads and a thread pool of
decoders (:mod:`pdesolve.datasets._chunks`); otherwise (PDEBench per-seed groups, virtual
datasets of distributed shards, contiguous or other storage) it reads with h5py, sorted, one
call per run of consecutive sample indices.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .._errors import DatasetError
from ._chunks import ChunkReader, chunk_reader
from ._compression import require_filters
from ._layout import (
    LAYOUT,
    SEEDS,
    SPACE_AXES,
    SPACE_COORDINATES,
    TENSOR,
    TIME_COORDINATE,
    LayoutInfo,
    attr_value,
    one_line,
    open_h5,
    validate_file,
)

LAYOUTS = (LAYOUT, "pdebench-tensor", "pdebench-groups")


def _normalise_frames(times, num_times: int) -> np.ndarray:
    """Frame indices (sorted, unique, in range) selected by `times`: None, an int, a slice or indices."""
    if times is None:
        return np.arange(num_times)
    if isinstance(times, slice):
        frames = np.arange(num_times)[times]
    else:
        frames = np.atleast_1d(np.asarray(times))
        if frames.dtype.kind not in "iu":
            raise DatasetError(f"time indices must be integers, got dtype {frames.dtype}")
        frames = np.where(frames < 0, frames + num_times, frames)
        if np.any((frames < 0) | (frames >= num_times)):
            raise DatasetError(f"time index out of range for {num_times} time steps")
    if len(frames) == 0:
        raise DatasetError("the time selection is empty")
    if np.any(np.diff(frames) <= 0):
        raise DatasetError("time indices must be strictly increasing")
    return frames.astype(np.int64)


class H5Dataset:
    """A read-only view of one HDF5 dataset file; samples are ``[t, *space, channel]`` numpy arrays.

    Build it with :func:`open_dataset`. It keeps the file open until :meth:`close` (or the end of
    a ``with`` block). Reads may come from several threads (h5py serialises them).

    **Attributes:**

    - `path`, `layout` (``"pdesolve-v1"``, ``"pdebench-tensor"`` or ``"pdebench-groups"``).
    - `num_samples`, `sample_shape` ``(t, *space, channel)``, `ndim` (space dimensions), `dtype`.
    - `coordinates`: ``{"t": ..., "x": ..., "y": ...}`` as 1D numpy arrays.
    - `attrs`: root attributes as Python values (``config`` decoded from JSON for pdesolve files).
    - `info`: the :class:`~pdesolve.datasets.LayoutInfo` of a pdesolve file, else ``None``.
    - `seeds`: the per-sample seeds of a pdesolve file, else ``None``.
    - `direct`: whether batches are read with direct chunk reads (else through h5py).
    - `threads`: decoding threads of direct reads (settable; default ``os.cpu_count()``).
    """

    def __init__(self, path, file, layout, sources, sample_shape, has_channel, coordinates, attrs,
                 info=None, seeds=None, chunks: ChunkReader | None = None):
        self.path = os.fspath(path)
        self.layout = layout
        self._file = file
        self._sources = sources  # one h5py dataset [sample, t, ...] or a list of [t, ...] datasets
        self._grouped = isinstance(sources, list)
        self.num_samples = len(sources) if self._grouped else int(sources.shape[0])
        self.sample_shape = tuple(int(s) for s in sample_shape)
        self._has_channel = has_channel
        self.coordinates = coordinates
        self.attrs = attrs
        self.info: LayoutInfo | None = info
        self.seeds = seeds
        self.dtype = np.dtype((sources[0] if self._grouped else sources).dtype)
        self._chunks = chunks
        self.closed = False

    @property
    def direct(self) -> bool:
        """Whether :meth:`read_batch` reads chunks itself (``pread`` + threaded decoding)."""
        return self._chunks is not None

    @property
    def threads(self) -> int:
        """Decoding threads of direct chunk reads (1 when reading through h5py)."""
        return self._chunks.threads if self._chunks is not None else 1

    @threads.setter
    def threads(self, value: int) -> None:
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise DatasetError(f"threads must be a positive integer, got {value!r}")
        if self._chunks is not None:
            self._chunks.threads = int(value)

    # -- description ----------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        """Number of space dimensions."""
        return len(self.sample_shape) - 2

    @property
    def num_times(self) -> int:
        """Number of saved time steps."""
        return self.sample_shape[0]

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """Grid points per space axis."""
        return self.sample_shape[1:-1]

    @property
    def num_channels(self) -> int:
        """Number of channels (1 when the file has no channel axis)."""
        return self.sample_shape[-1]

    @property
    def sample_nbytes(self) -> int:
        """Bytes of one decoded sample."""
        return int(np.prod(self.sample_shape)) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (
            f"H5Dataset({self.path!r}, layout={self.layout!r}, num_samples={self.num_samples}, "
            f"sample_shape={self.sample_shape})"
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Close the file."""
        if self.closed:
            return
        self.closed = True
        if self._chunks is not None:
            self._chunks.close()
        try:
            self._file.close()
        except Exception:  # pragma: no cover - closing a damaged file
            pass

    def will_need(self, indices: Sequence[int], times=None) -> None:
        """Ask the OS to start reading the chunks of samples `indices` (time steps `times`) now.

        A hint (``posix_fadvise(WILLNEED)``), returning at once: a later :meth:`read_batch` of those
        samples finds their bytes in the page cache or on their way. :class:`DataLoader` calls it
        for the next batch while it reads the current one. Does nothing when the file is read
        through h5py (:attr:`direct` is false) or the system has no ``posix_fadvise``.
        """
        if self.closed or self._chunks is None:
            return
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        indices = np.where(indices < 0, indices + self.num_samples, indices)
        if len(indices) == 0 or np.any((indices < 0) | (indices >= self.num_samples)):
            return
        self._chunks.will_need(indices, _normalise_frames(times, self.num_times))

    def decode_seconds(self, indices: Sequence[int] | None = None, times=None, *, group: int = 32) -> float:
        """CPU seconds that decoding samples `indices` (default: all), time steps `times`, costs one thread.

        The samples are decoded `group` at a time in the calling thread, as one decoding task of
        :meth:`read_batch` would, each group's chunk bytes read from the file beforehand (not
        counted); unfiltered chunks count as one copy into place. Divided by the cores that decode,
        it bounds how fast any reader on those cores can deliver the samples, whatever the storage
        behind it: the *decode bound* that ``pdesolve bench datasets`` reports. Needs direct chunk
        reads (:attr:`direct`); raises :class:`~pdesolve.DatasetError` otherwise.
        """
        if self.closed:
            raise DatasetError(f"{self.path}: the dataset is closed")
        if self._chunks is None:
            raise DatasetError(f"{self.path}: decode timing needs direct chunk reads; this file is read through h5py")
        indices = np.arange(self.num_samples) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
        if np.any((indices < 0) | (indices >= self.num_samples)):
            raise IndexError(f"sample index out of range for {self.num_samples} samples")
        if isinstance(group, bool) or int(group) != group or group < 1:
            raise DatasetError(f"group must be a positive integer, got {group!r}")
        frames = _normalise_frames(times, self.num_times)
        out = np.empty((min(int(group), max(1, len(indices))), len(frames)) + self.sample_shape[1:], self.dtype)
        return self._chunks.decode_seconds(indices, frames, out)

    # -- reading ---------------------------------------------------------------------------
    def __getitem__(self, index) -> np.ndarray:
        """Sample `index` as ``[t, *space, channel]`` (a slice gives a batch ``[b, t, ...]``)."""
        if isinstance(index, slice):
            return self.read_batch(np.arange(self.num_samples)[index])
        if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
            return self.read_batch([index])[0]
        raise TypeError(f"index samples with an int or a slice, got {type(index).__name__}")

    def read_batch(self, indices: Sequence[int], times=None, *, out: np.ndarray | None = None) -> np.ndarray:
        """Read several samples at once, shaped ``[len(indices), t, *space, channel]``.

        **Arguments:**

        - `indices`: sample indices in any order (duplicates allowed); the output keeps that order.
        - `times`: which time steps, ``None`` (all), an int, a slice, or increasing frame indices.
        - `out`: optional C-contiguous array of the output's shape and dtype to read into.

        The distinct samples are read once (duplicates are copied), only the selected time steps:
        with direct chunk reads (see :attr:`direct`) one decoding task per sample on
        :attr:`threads` threads, else with h5py in increasing index order, one read per run of
        consecutive indices. Both give the same bytes. Raises
        :class:`~pdesolve.DatasetError` for a closed dataset, a bad time selection or corrupt data,
        and ``IndexError`` for an index out of range.
        """
        if self.closed:
            raise DatasetError(f"{self.path}: the dataset is closed")
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        indices = np.where(indices < 0, indices + self.num_samples, indices)
        if np.any((indices < 0) | (indices >= self.num_samples)):
            raise IndexError(f"sample index out of range for {self.num_samples} samples")
        frames = _normalise_frames(times, self.num_times)
        shape = (len(indices), len(frames)) + self.sample_shape[1:]
        if out is None:
            out = np.empty(shape, dtype=self.dtype)
        elif out.shape != shape or out.dtype != self.dtype or not out.flags.c_contiguous:
            raise DatasetError(f"out must be a C-contiguous {self.dtype} array of shape {shape}")
        if len(indices) == 0:
            return out
        order = np.argsort(indices, kind="stable")
        sorted_indices = indices[order]
        # First position of each distinct sample; later duplicates are copied.
        firsts = np.ones(len(order), dtype=bool)
        firsts[1:] = sorted_indices[1:] != sorted_indices[:-1]
        jobs = [(int(s), int(p)) for s, p in zip(sorted_indices[firsts], order[firsts])]
        self._read(jobs, frames, out)
        if not np.all(firsts):
            for k in np.nonzero(~firsts)[0]:
                out[order[k]] = out[order[np.searchsorted(sorted_indices, sorted_indices[k])]]
        return out

    def _read(self, jobs, frames, out):
        """Read ``(sample, output position)`` jobs (sorted by sample) into `out`."""
        steps = np.diff(frames)
        if len(frames) == 1 or np.all(steps == steps[0]):
            tsel, pick = slice(int(frames[0]), int(frames[-1]) + 1, int(steps[0]) if len(steps) else 1), None
        else:  # h5py's point selections are slow: read the covering range, pick in numpy
            tsel, pick = slice(int(frames[0]), int(frames[-1]) + 1), frames - frames[0]
        if self._chunks is not None and self._chunks.read(jobs, frames, out):
            return
        try:
            if self._grouped:
                for sample, position in jobs:
                    block = self._sources[sample][tsel]
                    block = block if pick is None else block[pick]
                    out[position] = block if self._has_channel else block[..., None]
                return
            k = 0
            ds = self._sources
            fspace = ds.id.get_space() if pick is None and hasattr(ds, "id") else None
            while k < len(jobs):  # one h5py read per run of consecutive samples
                j = k
                while j + 1 < len(jobs) and jobs[j + 1][0] == jobs[j][0] + 1:
                    j += 1
                positions = [p for _, p in jobs[k : j + 1]]
                contiguous = positions == list(range(positions[0], positions[0] + len(positions)))
                if fspace is not None and contiguous:
                    # Straight into `out` (no temporary array): a hyperslab of the file.
                    dest = out[positions[0] : positions[0] + len(positions)]
                    _read_hyperslab(ds, fspace, jobs[k][0], tsel, dest, self._has_channel)
                    k = j + 1
                    continue
                if j == k:
                    block = ds[jobs[k][0], tsel][None]
                else:
                    block = ds[jobs[k][0] : jobs[j][0] + 1, tsel]
                if pick is not None:
                    block = block[:, pick]
                if not self._has_channel:
                    block = block[..., None]
                if contiguous:
                    out[positions[0] : positions[0] + len(positions)] = block
                else:
                    out[positions] = block
                k = j + 1
        except OSError as err:
            raise DatasetError(f"{self.path}: corrupt data while reading samples (h5py: {one_line(err)})") from err


def _read_hyperslab(ds, fspace, first: int, tsel: slice, dest: np.ndarray, has_channel: bool) -> None:
    """Read samples ``first, first + 1, ...`` (``len(dest)`` of them), frames `tsel`, into `dest`."""
    from h5py import h5s

    rank = len(ds.shape)
    count = (len(dest), len(range(*tsel.indices(ds.shape[1])))) + tuple(ds.shape[2:])
    fspace.select_hyperslab((first, tsel.start) + (0,) * (rank - 2), count, (1, tsel.step) + (1,) * (rank - 2))
    view = dest if has_channel else dest.reshape(count)  # drop the added channel axis (a view)
    ds.id.read(h5s.create_simple(count), fspace, view)


def _coordinate(f, name):
    import h5py

    obj = f.get(name)
    if isinstance(obj, h5py.Dataset) and obj.ndim == 1:
        return np.asarray(obj[()])
    return None


def _time_axis(path, t, num_times):
    if t is None:
        return np.arange(num_times, dtype=np.float64)
    if len(t) == num_times + 1:  # PDEBench 1D files store one extra time coordinate
        return t[:num_times]
    if len(t) != num_times:
        raise DatasetError(f"{path}: shape mismatch: time coordinate has {len(t)} points but data has {num_times} steps")
    return t


def _check_space(path, coordinates, spatial_shape):
    for axis, n in zip(SPACE_AXES, spatial_shape):
        values = coordinates.get(axis)
        if values is not None and len(values) != n:
            raise DatasetError(
                f"{path}: shape mismatch: {axis} coordinate has {len(values)} points but data has {n} along {axis}"
            )


def _root_attrs(f) -> dict:
    return {key: attr_value(value) for key, value in f.attrs.items()}


def open_dataset(path, *, allow_incomplete: bool = False, spatial_ndim: int | None = None,
                 direct: bool = True, threads: int | None = None) -> H5Dataset:
    """Open a pdesolve or PDEBench HDF5 file for reading samples.

    **Arguments:**

    - `path`: the ``.h5`` file.
    - `allow_incomplete`: for a pdesolve file still being generated, expose its first
      ``num_complete`` samples instead of raising.
    - `spatial_ndim`: number of space axes of a PDEBench ``tensor`` whose layout is ambiguous
      (no coordinate datasets); by default it is the number of ``*-coordinate`` datasets.
    - `direct`: read supported chunked storage directly (``pread`` + threaded decoding, see
      :mod:`pdesolve.datasets._chunks`); ``False`` always reads through h5py.
    - `threads`: decoding threads of direct reads (default ``os.cpu_count()``).

    Raises :class:`~pdesolve.DatasetError` (one line) for a missing, non-HDF5, truncated or
    corrupt file, an invalid pdesolve file, or a file in no known layout.
    """
    import h5py

    if threads is not None and (isinstance(threads, bool) or int(threads) != threads or threads < 1):
        raise DatasetError(f"threads must be a positive integer, got {threads!r}")
    path = os.fspath(path)
    with open_h5(path) as probe:
        layout = attr_value(probe.attrs.get("layout")) if "layout" in probe.attrs else None
        if layout is not None and layout != LAYOUT:
            raise DatasetError(f"{path}: unknown layout {layout!r}; this pdesolve reads {LAYOUT!r} and PDEBench files")
    if layout == LAYOUT:
        info = validate_file(path, allow_incomplete=allow_incomplete)
        f = open_h5(path)
        ds = f[TENSOR]
        coordinates = {"t": np.asarray(f[TIME_COORDINATE][()])}
        for axis in range(info.ndim):
            coordinates[SPACE_AXES[axis]] = np.asarray(f[SPACE_COORDINATES[axis]][()])
        seeds = np.asarray(f[SEEDS][: info.num_complete])
        attrs = dict(info.attrs, config=info.config)
        view = ds if info.complete else _Prefix(ds, info.num_complete)
        chunks = chunk_reader(path, ds, threads) if direct else None
        return H5Dataset(path, f, LAYOUT, view, info.sample_shape, True, coordinates, attrs,
                         info=info, seeds=seeds, chunks=chunks)

    f = open_h5(path)
    try:
        if TENSOR in f and isinstance(f[TENSOR], h5py.Dataset):
            return _open_tensor(path, f, spatial_ndim, direct, threads)
        keys = sorted(k for k in f.keys() if isinstance(f[k], h5py.Group) and "data" in f[k])
        if keys:
            return _open_groups(path, f, keys)
        names = ", ".join(sorted(f.keys())[:6]) or "nothing"
        raise DatasetError(
            f"{path}: unknown layout: no 'layout' attribute, no 'tensor' dataset and no per-seed groups with "
            f"'data' (file holds {names}); expected a pdesolve-v1 or PDEBench file"
        )
    except BaseException:
        f.close()
        raise


class _Prefix:
    """The first `n` samples of an h5py dataset (an incomplete pdesolve file)."""

    def __init__(self, ds, n):
        self._ds, self.shape, self.dtype = ds, (n,) + ds.shape[1:], ds.dtype

    def __getitem__(self, key):
        return self._ds[key]


def _open_tensor(path, f, spatial_ndim, direct=True, threads=None) -> H5Dataset:
    ds = f[TENSOR]
    coordinates = {axis: _coordinate(f, name) for axis, name in zip(SPACE_AXES, SPACE_COORDINATES)}
    coordinates = {k: v for k, v in coordinates.items() if v is not None}
    rank = ds.ndim
    if spatial_ndim is None:
        found = [axis for axis in SPACE_AXES if axis in coordinates]
        spatial_ndim = len(found) if found else (1 if rank <= 4 else rank - 3)
    if spatial_ndim not in (1, 2, 3):
        raise DatasetError(f"{path}: cannot tell the space axes of 'tensor' with shape {ds.shape}")
    if rank == 2 + spatial_ndim:
        has_channel = False
    elif rank == 3 + spatial_ndim:
        has_channel = True
    else:
        raise DatasetError(
            f"{path}: 'tensor' has rank {rank} (shape {ds.shape}); with {spatial_ndim} space axes expected "
            f"[sample, t, space...] (rank {2 + spatial_ndim}) or [sample, t, space..., channel] (rank {3 + spatial_ndim})"
        )
    if ds.dtype.kind not in "fiu":
        raise DatasetError(f"{path}: 'tensor' has dtype {ds.dtype}; expected numbers")
    require_filters(path, ds)
    shape = ds.shape
    spatial_shape = shape[2 : 2 + spatial_ndim]
    coordinates = {k: v for k, v in coordinates.items() if SPACE_AXES.index(k) < spatial_ndim}
    _check_space(path, coordinates, spatial_shape)
    t = _time_axis(path, _coordinate(f, TIME_COORDINATE), shape[1])
    sample_shape = (shape[1],) + tuple(spatial_shape) + ((shape[-1],) if has_channel else (1,))
    chunks = chunk_reader(path, ds, threads) if direct else None
    return H5Dataset(path, f, "pdebench-tensor", ds, sample_shape, has_channel, dict(coordinates, t=t),
                     _root_attrs(f), chunks=chunks)


def _open_groups(path, f, keys) -> H5Dataset:
    import h5py

    first = f[keys[0]]
    data = first["data"]
    require_filters(path, data)
    coordinates = {}
    grid = first.get("grid")
    if isinstance(grid, h5py.Group):
        for axis in SPACE_AXES:
            values = _coordinate(grid, axis)
            if values is not None:
                coordinates[axis] = values
    rank = data.ndim
    spatial_ndim = len(coordinates) if coordinates else max(1, rank - 2)
    if rank == 1 + spatial_ndim:
        has_channel = False
    elif rank == 2 + spatial_ndim:
        has_channel = True
    else:
        raise DatasetError(
            f"{path}: '{keys[0]}/data' has rank {rank} (shape {data.shape}); with {spatial_ndim} space axes "
            f"expected [t, space..., (channel)]"
        )
    sources = []
    for key in keys:
        item = f[key]["data"]
        if item.shape != data.shape or item.dtype != data.dtype:
            raise DatasetError(
                f"{path}: shape mismatch: '{key}/data' is {item.shape} {item.dtype} but '{keys[0]}/data' is "
                f"{data.shape} {data.dtype}"
            )
        sources.append(item)
    spatial_shape = data.shape[1 : 1 + spatial_ndim]
    _check_space(path, coordinates, spatial_shape)
    t = _time_axis(path, _coordinate(grid, "t") if isinstance(grid, h5py.Group) else None, data.shape[0])
    sample_shape = (data.shape[0],) + tuple(spatial_shape) + ((data.shape[-1],) if has_channel else (1,))
    attrs = _root_attrs(f)
    attrs["groups"] = len(keys)
    return H5Dataset(path, f, "pdebench-groups", sources, sample_shape, has_channel, dict(coordinates, t=t),
                     attrs)


def describe_file(path, *, deep: bool = False) -> dict:
    """Validate `path` (pdesolve or PDEBench layout) and describe it as a JSON-ready dict.

    Keys: ``path``, ``layout``, ``size_bytes``, ``num_samples``, ``sample_shape`` (``[t, *space,
    channel]``), ``datasets`` (every HDF5 dataset in the file, up to 64: ``name``, ``shape``,
    ``dtype``, ``chunks``, ``compression``), ``attrs`` (root attributes, ``config`` decoded),
    ``coordinates`` (first, last and count of each axis) and ``valid`` (always ``True``: an
    invalid file raises). The first and last samples are read to catch corrupt chunks; with
    `deep` every sample is read and checked to be finite.

    Raises :class:`~pdesolve.DatasetError` with a one-line reason for a missing, non-HDF5,
    truncated, corrupt or foreign file, or (with `deep`) a sample holding NaN/Inf.
    """
    import h5py

    path = os.fspath(path)
    with open_dataset(path) as data:
        which = range(data.num_samples) if deep else sorted({0, data.num_samples - 1})
        for i in which:
            sample = data.read_batch([i])
            if deep and not np.all(np.isfinite(sample)):
                raise DatasetError(f"{path}: sample {i} contains NaN/Inf")
        datasets = []

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and len(datasets) < 64:
                datasets.append({
                    "name": name,
                    "shape": list(obj.shape),
                    "dtype": str(obj.dtype),
                    "chunks": list(obj.chunks) if obj.chunks else None,
                    "compression": obj.compression,
                    "virtual_sources": len(obj.virtual_sources()) if obj.is_virtual else 0,
                })

        try:
            data._file.visititems(visit)
        except (OSError, RuntimeError) as err:
            raise DatasetError(f"{path}: corrupt HDF5 structure ({one_line(err)})") from err
        coordinates = {
            axis: {"size": int(len(values)), "first": float(values[0]), "last": float(values[-1])}
            for axis, values in data.coordinates.items() if len(values)
        }
        return {
            "path": path,
            "valid": True,
            "layout": data.layout,
            "size_bytes": os.path.getsize(path),
            "num_samples": data.num_samples,
            "sample_shape": list(data.sample_shape),
            "dtype": str(data.dtype),
            "datasets": datasets,
            "coordinates": coordinates,
            "attrs": data.attrs,
        }
