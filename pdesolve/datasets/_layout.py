r"""The ``pdesolve-v1`` HDF5 layout: one file per dataset, PDEBench-style, channel last.

A file holds

- ``tensor``: float32, shaped ``[sample, t, x(, y(, z)), channel]``, chunked per
  ``(1 sample, 1 time step, full space, all channels)`` and compressed (gzip, lzf, Blosc2 with
  LZ4 or Zstd, or none; see :mod:`pdesolve.datasets._compression`);
- ``t-coordinate`` ``[t]`` and ``x-coordinate`` ``[x]`` (and ``y-coordinate`` ``[y]`` in 2D,
  ``z-coordinate`` ``[z]`` in 3D);
- ``seeds``: int64 ``[sample]``, the seed each sample was generated from;
- root attributes: the physical parameters (``nu``, ``drag``, ``dt_save``, ...), ``config``
  (JSON of the full recipe), ``axes`` (``"sample,t,x,y,channel"``), ``pdesolve_version``,
  ``layout = "pdesolve-v1"`` and ``num_complete`` (samples fully written, in index order).

:func:`validate_file` checks all of it and raises :class:`~pdesolve.DatasetError` with a
one-line message; :func:`create_file` and :func:`write_samples` are the writer's side.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import DatasetError
from .._version import __version__
from ._compression import COMPRESSIONS, compression_name, dataset_options, require_filters

LAYOUT = "pdesolve-v1"
TENSOR = "tensor"
SEEDS = "seeds"
TIME_COORDINATE = "t-coordinate"
SPACE_AXES = ("x", "y", "z")
SPACE_COORDINATES = tuple(f"{axis}-coordinate" for axis in SPACE_AXES)
# Attributes every pdesolve-v1 file carries, besides the physical parameters.
REQUIRED_ATTRS = ("layout", "axes", "config", "pdesolve_version", "num_complete")


def axes_string(ndim: int) -> str:
    """The ``axes`` attribute for `ndim` space dimensions, e.g. ``"sample,t,x,y,channel"``."""
    return ",".join(("sample", "t") + SPACE_AXES[:ndim] + ("channel",))


def one_line(text: object) -> str:
    """Collapse an error text (h5py's can span lines) into one line."""
    return " ".join(str(text).split())


@dataclass(frozen=True)
class LayoutInfo:
    """What :func:`validate_file` found in a valid ``pdesolve-v1`` file.

    **Attributes:**

    - `path`: the file.
    - `num_samples`: length of the sample axis; `num_complete` of them are fully written.
    - `num_times`, `spatial_shape`, `num_channels`: the rest of the tensor's shape.
    - `axes`: the ``axes`` attribute; `dtype`, `chunks`, `compression`: storage of ``tensor``.
    - `config`: the decoded ``config`` JSON (the full generation recipe).
    - `attrs`: every other root attribute (physical parameters, version, ...), as Python values.
    - `version`: the ``pdesolve_version`` that wrote the file.
    """

    path: str
    num_samples: int
    num_complete: int
    num_times: int
    spatial_shape: tuple[int, ...]
    num_channels: int
    axes: str
    dtype: str
    chunks: tuple[int, ...]
    compression: str | None
    config: dict = field(repr=False)
    attrs: dict = field(repr=False)
    version: str = ""

    @property
    def ndim(self) -> int:
        """Number of space dimensions."""
        return len(self.spatial_shape)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample, ``(t, *space, channel)``."""
        return (self.num_times,) + self.spatial_shape + (self.num_channels,)

    @property
    def complete(self) -> bool:
        """Whether every sample has been written."""
        return self.num_complete == self.num_samples

    def to_dict(self) -> dict:
        """A JSON-ready summary."""
        return {
            "path": self.path,
            "layout": LAYOUT,
            "num_samples": self.num_samples,
            "num_complete": self.num_complete,
            "sample_shape": list(self.sample_shape),
            "axes": self.axes,
            "dtype": self.dtype,
            "chunks": list(self.chunks),
            "compression": self.compression,
            "version": self.version,
            "attrs": self.attrs,
            "config": self.config,
        }


def attr_value(value: Any) -> Any:
    """An HDF5 attribute as a plain Python value (str, int, float, bool or list)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [attr_value(v) for v in value.tolist()] if value.dtype.kind in "OSU" else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _fail(path, message: str):
    raise DatasetError(f"{path}: {one_line(message)}")


def open_h5(path, mode: str = "r"):
    """Open `path` with h5py, turning every way it can fail into a one-line :class:`DatasetError`."""
    import h5py

    path = os.fspath(path)
    if not os.path.exists(path):
        _fail(path, "no such file")
    if os.path.isdir(path):
        _fail(path, "is a directory, not an HDF5 file")
    if os.path.getsize(path) == 0:
        _fail(path, "empty file (0 bytes), not an HDF5 file")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as err:
        _fail(path, f"cannot be read ({err})")
    if not is_hdf5:
        _fail(path, "not an HDF5 file (no HDF5 signature); expected a .h5 file written by pdesolve or PDEBench")
    try:
        return h5py.File(path, mode)
    except OSError as err:
        text = one_line(err)
        if "truncated" in text or "eof" in text.lower():
            _fail(path, f"truncated HDF5 file (h5py: {text}); regenerate or re-download it")
        if "lock" in text.lower():
            _fail(path, f"cannot be opened, it is locked by another process (h5py: {text})")
        _fail(path, f"corrupt or unreadable HDF5 file (h5py: {text})")


def _read_coordinate(path, f, name: str, length: int):
    import h5py

    if name not in f:
        _fail(path, f"missing dataset {name!r} (the {name.split('-')[0]} axis has {length} points)")
    obj = f[name]
    if not isinstance(obj, h5py.Dataset):
        _fail(path, f"{name!r} is a group, expected a 1D dataset")
    if obj.ndim != 1:
        _fail(path, f"{name!r} has rank {obj.ndim} (shape {obj.shape}); expected a 1D array of {length} points")
    if obj.shape[0] != length:
        _fail(path, f"shape mismatch: {name!r} has {obj.shape[0]} points but 'tensor' has {length} along that axis")
    try:
        values = obj[()]
    except OSError as err:
        _fail(path, f"corrupt dataset {name!r} (h5py: {err})")
    if values.dtype.kind not in "fiu":
        _fail(path, f"{name!r} has dtype {values.dtype}; expected numbers")
    if not np.all(np.isfinite(values)):
        _fail(path, f"{name!r} contains NaN/Inf")
    return values


def _storage(ds) -> tuple[tuple[int, ...] | None, str | None]:
    return ds.chunks, compression_name(ds)


def _check_virtual_sources(path, ds, filters: bool = False) -> None:
    """Every shard file of a virtual `ds` exists; with `filters`, the first one's filters are available."""
    import h5py

    base = os.path.dirname(os.path.abspath(os.fspath(path)))
    first = None
    for source in ds.virtual_sources():
        name = source.file_name
        full = name if os.path.isabs(name) or name == "." else os.path.join(base, name)
        if name != "." and not os.path.exists(full):
            _fail(path, f"virtual 'tensor' maps samples to the missing shard file {name!r}")
        if first is None and name != ".":
            first = (full, source.dset_name)
    if filters and first is not None:
        try:
            with h5py.File(first[0], "r") as shard:
                require_filters(first[0], shard[first[1]])
        except (OSError, KeyError):
            return  # reported when the samples are read


def validate_file(path, *, allow_incomplete: bool = False, check_data: bool = True, deep: bool = False) -> LayoutInfo:
    """Check that `path` is a valid ``pdesolve-v1`` dataset file and describe it.

    **Arguments:**

    - `path`: the ``.h5`` file.
    - `allow_incomplete`: accept ``num_complete < samples`` (a file being generated).
    - `check_data`: read the first and last complete samples (finds corrupt chunks cheaply).
    - `deep`: read every complete sample and check it is finite (reads the whole file).

    Returns a :class:`LayoutInfo`. Raises :class:`~pdesolve.DatasetError` with a one-line
    message naming the file and the problem: not HDF5, truncated or corrupt (h5py's
    ``OSError`` translated), a foreign file with no or an unknown ``layout``, a missing dataset
    or attribute, a wrong rank, dtype or chunking, a mismatch between the tensor and its
    coordinates or seeds, or an incomplete file.
    """
    import h5py

    path = os.fspath(path)
    with open_h5(path) as f:
        attrs = {key: attr_value(value) for key, value in _safe_attrs(path, f).items()}
        layout = attrs.get("layout")
        if layout is None:
            names = ", ".join(sorted(f.keys())[:6]) or "nothing"
            hint = (
                "; a PDEBench file? open it with pdesolve.datasets.open_dataset"
                if TENSOR in f or any(_is_sample_group(f, k) for k in list(f.keys())[:3])
                else ""
            )
            _fail(path, f"unknown layout: no 'layout' attribute (file holds {names}){hint}")
        if layout != LAYOUT:
            _fail(path, f"unknown layout {layout!r}; this pdesolve reads {LAYOUT!r}")
        for key in REQUIRED_ATTRS:
            if key not in attrs:
                _fail(path, f"missing root attribute {key!r}")
        if TENSOR not in f:
            _fail(path, f"missing dataset {TENSOR!r}")
        ds = f[TENSOR]
        if not isinstance(ds, h5py.Dataset):
            _fail(path, f"{TENSOR!r} is a group, expected a dataset")
        shape = ds.shape
        if not 4 <= len(shape) <= 6:
            _fail(
                path,
                f"'tensor' has rank {len(shape)} (shape {shape}); expected [sample, t, x(, y(, z)), channel], rank 4-6",
            )
        ndim = len(shape) - 3
        if ds.dtype != np.float32:
            _fail(path, f"'tensor' has dtype {ds.dtype}; expected float32")
        expected_axes = axes_string(ndim)
        if attrs["axes"] != expected_axes:
            _fail(path, f"axes attribute is {attrs['axes']!r} but a rank-{len(shape)} tensor needs {expected_axes!r}")
        chunks, compression = _storage(ds)
        expected_chunks = (1, 1) + tuple(shape[2:])
        if ds.is_virtual:
            # A virtual dataset linking shard files (pdesolve.distributed): the storage rules
            # apply to each source, and every source file must be there.
            _check_virtual_sources(path, ds, filters=check_data or deep)
        elif chunks != expected_chunks:
            _fail(path, f"'tensor' is chunked as {chunks}; the layout needs (1 sample, 1 step, full space, channels) = {expected_chunks}")
        if (compression or "none") not in COMPRESSIONS:
            _fail(path, f"'tensor' compression is {compression!r}; expected one of {', '.join(COMPRESSIONS)}")
        num_samples, num_times = shape[0], shape[1]
        if num_samples < 1 or num_times < 1 or shape[-1] < 1:
            _fail(path, f"'tensor' has an empty axis (shape {shape})")
        _read_coordinate(path, f, TIME_COORDINATE, num_times)
        for axis in range(ndim):
            _read_coordinate(path, f, SPACE_COORDINATES[axis], shape[2 + axis])
        for extra in SPACE_COORDINATES[ndim:]:
            if extra in f:
                _fail(path, f"has {extra!r} but 'tensor' has only {ndim} space axes")
        if SEEDS not in f:
            _fail(path, f"missing dataset {SEEDS!r} (one int64 seed per sample)")
        seeds = f[SEEDS]
        if not isinstance(seeds, h5py.Dataset) or seeds.shape != (num_samples,):
            _fail(path, f"shape mismatch: 'seeds' has shape {getattr(seeds, 'shape', None)}, expected ({num_samples},)")
        if seeds.dtype != np.int64:
            _fail(path, f"'seeds' has dtype {seeds.dtype}; expected int64")
        try:
            config = json.loads(attrs["config"])
        except (TypeError, ValueError) as err:
            _fail(path, f"config attribute is not valid JSON ({err})")
        if not isinstance(config, dict):
            _fail(path, "config attribute is not a JSON object")
        num_complete = attrs["num_complete"]
        if isinstance(num_complete, bool) or not isinstance(num_complete, int):
            _fail(path, f"num_complete is {num_complete!r}; expected an integer")
        if not 0 <= num_complete <= num_samples:
            _fail(path, f"num_complete = {num_complete} is outside [0, {num_samples}]")
        if num_complete < num_samples and not allow_incomplete:
            _fail(
                path,
                f"incomplete: only {num_complete} of {num_samples} samples were written "
                "(an interrupted generation; finish it with `pdesolve generate ... --resume`)",
            )
        if check_data or deep:
            if not ds.is_virtual:
                require_filters(path, ds)
            _check_samples(path, ds, seeds, num_complete, deep)
    attrs.pop("config")
    return LayoutInfo(
        path=path,
        num_samples=num_samples,
        num_complete=num_complete,
        num_times=num_times,
        spatial_shape=tuple(shape[2:-1]),
        num_channels=shape[-1],
        axes=expected_axes,
        dtype=str(ds.dtype),
        chunks=tuple(chunks or ()),  # () for a virtual tensor (its shards are chunked)
        compression=compression,
        config=config,
        attrs=attrs,
        version=str(attrs.get("pdesolve_version", "")),
    )


def _safe_attrs(path, f):
    try:
        return dict(f.attrs)
    except OSError as err:
        _fail(path, f"corrupt root attributes (h5py: {err})")


def _is_sample_group(f, key) -> bool:
    import h5py

    obj = f.get(key)
    return isinstance(obj, h5py.Group) and "data" in obj


def _check_samples(path, ds, seeds, num_complete: int, deep: bool) -> None:
    if num_complete == 0:
        return
    which = range(num_complete) if deep else sorted({0, num_complete - 1})
    try:
        seed_values = seeds[:num_complete]
        for i in which:
            sample = ds[i]
            if deep and not np.all(np.isfinite(sample)):
                _fail(path, f"sample {i} contains NaN/Inf")
    except OSError as err:
        _fail(path, f"corrupt data in 'tensor' (h5py: {err}); the file is damaged, regenerate it")
    if np.any(seed_values < 0):
        _fail(path, f"'seeds' has negative entries among the {num_complete} complete samples")


def create_file(
    path,
    *,
    num_samples: int,
    times: Sequence[float],
    coordinates: Sequence[np.ndarray],
    num_channels: int,
    config: Mapping[str, Any],
    attrs: Mapping[str, Any],
    compression: str = "gzip",
    compression_level: int | None = None,
    shuffle: bool = True,
) -> None:
    """Create an empty ``pdesolve-v1`` file (``num_complete = 0``) ready for :func:`write_samples`.

    **Arguments:**

    - `path`: the file to create (overwritten).
    - `num_samples`: length of the sample axis.
    - `times`: the saved times (``t-coordinate``).
    - `coordinates`: one 1D array per space axis (``x-coordinate``, ...).
    - `num_channels`: number of channels.
    - `config`: the full recipe, stored as JSON in the ``config`` attribute.
    - `attrs`: physical parameters and other root attributes (numbers, strings or 1D arrays).
    - `compression`: ``"gzip"`` (default: readable by every HDF5 tool), ``"lzf"`` (faster to
      decode, readable by h5py only), ``"blosc-lz4"`` or ``"blosc-zstd"`` (Blosc2 with byte
      shuffle: several times faster to decode; needs ``hdf5plugin``, the ``fast-io`` extra, to
      write and to read) or ``"none"`` (no decoding, largest).
    - `compression_level`: the codec's level, 0-9 (default: gzip 4, blosc-lz4 5, blosc-zstd 1).
    - `shuffle`: byte-shuffle before compressing (better ratios for floats): HDF5's shuffle filter
      for gzip and lzf, Blosc's own for the Blosc codecs.
    """
    import h5py

    options = dataset_options(compression, compression_level, shuffle, path=path)
    ndim = len(coordinates)
    spatial = tuple(len(c) for c in coordinates)
    shape = (int(num_samples), len(times)) + spatial + (int(num_channels),)
    with h5py.File(os.fspath(path), "w") as f:
        f.create_dataset(
            TENSOR, shape=shape, dtype=np.float32, chunks=(1, 1) + spatial + (int(num_channels),),
            fillvalue=np.float32(np.nan), **options,
        )
        f.create_dataset(TIME_COORDINATE, data=np.asarray(times, dtype=np.float64))
        for axis in range(ndim):
            f.create_dataset(SPACE_COORDINATES[axis], data=np.asarray(coordinates[axis], dtype=np.float64))
        f.create_dataset(SEEDS, shape=(shape[0],), dtype=np.int64, fillvalue=-1)
        for key, value in attrs.items():
            f.attrs[key] = value
        f.attrs["config"] = json.dumps(dict(config), sort_keys=True)
        f.attrs["axes"] = axes_string(ndim)
        f.attrs["pdesolve_version"] = __version__
        f.attrs["layout"] = LAYOUT
        f.attrs["num_complete"] = 0


def write_samples(path, start: int, data: np.ndarray, seeds: np.ndarray) -> int:
    """Write samples ``start, start + 1, ...`` and their seeds, flush, then advance ``num_complete``.

    The data are flushed to the file before ``num_complete`` is raised, and the file is closed
    between calls, so an interrupted writer leaves a file whose first ``num_complete`` samples are
    intact. Returns the new ``num_complete``.
    """
    f = open_h5(path, "r+")
    try:
        stop = int(start) + len(data)
        require_filters(path, f[TENSOR])
        if int(f.attrs["num_complete"]) != int(start):
            raise DatasetError(
                f"{path}: writing samples from {start} but num_complete is {int(f.attrs['num_complete'])}"
            )
        f[TENSOR][start:stop] = np.asarray(data, dtype=np.float32)
        f[SEEDS][start:stop] = np.asarray(seeds, dtype=np.int64)
        f.flush()
        f.attrs["num_complete"] = stop
        f.flush()
    finally:
        f.close()
    return stop
