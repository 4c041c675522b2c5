r"""Compression of the ``tensor`` dataset: the codecs pdesolve writes, and the HDF5 filters they need.

=============  =====================================================  ===========================
name           HDF5 filter pipeline                                   readable by
=============  =====================================================  ===========================
``gzip``       shuffle (2) + deflate (1), level 4                     every HDF5 tool (default)
``lzf``        shuffle (2) + LZF (32000)                              h5py only
``blosc-lz4``  Blosc2 (32026): byte shuffle + LZ4, level 5            any HDF5 with the Blosc2 plugin
``blosc-zstd`` Blosc2 (32026): byte shuffle + Zstd, level 1           any HDF5 with the Blosc2 plugin
``none``       no filter                                              every HDF5 tool
=============  =====================================================  ===========================

The Blosc2 filter comes from the optional package ``hdf5plugin`` (``pip install
"pdesolve[fast-io]"``), imported lazily: only when a Blosc file is written or opened. Importing
it registers the filter with h5py's HDF5, so plain h5py reads the files too once
``import hdf5plugin`` has run. Without it, writing or reading such a file raises a one-line
:class:`~pdesolve.DatasetError` naming the extra, before any byte is read or written.
"""

from __future__ import annotations

import os

from .._errors import DatasetError

COMPRESSIONS = ("gzip", "lzf", "blosc-lz4", "blosc-zstd", "none")
FAST_IO = 'pip install "pdesolve[fast-io]"'

DEFLATE, SHUFFLE, FLETCHER32, SZIP, LZF, BLOSC, BLOSC2 = 1, 2, 3, 4, 32000, 32001, 32026
# Filters that hdf5plugin provides (registered with HDF5 when it is imported).
HDF5PLUGIN_FILTERS = {
    BLOSC: "Blosc", 32004: "LZ4", 32008: "Bitshuffle", 32013: "ZFP", 32015: "Zstd", 32017: "SZ",
    BLOSC2: "Blosc2", 32024: "SZ3", 32028: "SPERR", 32029: "HTJ2K", 307: "BZip2", 32018: "FCIDECOMP",
}
# Blosc2's codec numbers (the 7th filter value) and the names pdesolve gives them.
BLOSC2_CODECS = {1: "lz4", 5: "zstd"}
BLOSC_DEFAULT_LEVELS = {"blosc-lz4": 5, "blosc-zstd": 1}
GZIP_DEFAULT_LEVEL = 4


def _missing_plugin(path, what: str) -> DatasetError:
    where = f"{os.fspath(path)}: " if path is not None else ""
    return DatasetError(f"{where}{what} needs the hdf5plugin package (the Blosc2 HDF5 filter): {FAST_IO}")


def load_hdf5plugin(path=None, what: str = "Blosc2 compression"):
    """Import ``hdf5plugin`` (registering its filters with h5py's HDF5) and return it.

    Raises a one-line :class:`~pdesolve.DatasetError` naming the ``fast-io`` extra when it is
    not installed (or cannot be imported).
    """
    try:
        import hdf5plugin
    except ImportError:
        raise _missing_plugin(path, what) from None
    return hdf5plugin


def dataset_options(compression: str, level: int | None = None, shuffle: bool = True, path=None) -> dict:
    """Keyword arguments of ``h5py.Group.create_dataset`` for `compression` (one of :data:`COMPRESSIONS`).

    `level`: the codec's level (gzip 0-9, default 4; Blosc 0-9, default 5 for LZ4 and 1 for
    Zstd); `shuffle`: byte shuffle before compressing (HDF5's shuffle filter for gzip and lzf,
    Blosc's own for the Blosc codecs).
    """
    if compression not in COMPRESSIONS:
        where = f"{os.fspath(path)}: " if path is not None else ""
        raise DatasetError(f"{where}compression must be one of {', '.join(COMPRESSIONS)}, got {compression!r}")
    if level is not None and (isinstance(level, bool) or int(level) != level or not 0 <= level <= 9):
        raise DatasetError(f"compression level must be an integer in [0, 9], got {level!r}")
    if compression == "none":
        return {}
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": GZIP_DEFAULT_LEVEL if level is None else int(level),
                "shuffle": bool(shuffle)}
    if compression == "lzf":
        return {"compression": "lzf", "shuffle": bool(shuffle)}
    hdf5plugin = load_hdf5plugin(path, f"compression {compression!r}")
    cname = compression.split("-", 1)[1]
    clevel = BLOSC_DEFAULT_LEVELS[compression] if level is None else int(level)
    filters = hdf5plugin.Blosc2.SHUFFLE if shuffle else hdf5plugin.Blosc2.NOFILTER
    return dict(hdf5plugin.Blosc2(cname=cname, clevel=clevel, filters=filters))


def filter_pipeline(ds) -> list[tuple[int, tuple[int, ...], str]]:
    """The filters of the h5py dataset `ds`, in HDF5's (encoding) order: ``(code, values, name)``."""
    plist = ds.id.get_create_plist()
    out = []
    for index in range(plist.get_nfilters()):
        code, _flags, values, name = plist.get_filter(index)
        out.append((int(code), tuple(int(v) for v in values), name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)))
    return out


def compression_name(ds) -> str | None:
    """pdesolve's name for the compression of `ds` (``None`` when unfiltered), else a description.

    Read from the dataset's creation properties, so it works without the filters being available.
    """
    codes = [(code, values) for code, values, _ in filter_pipeline(ds) if code not in (SHUFFLE, FLETCHER32)]
    if not codes:
        return None
    if len(codes) == 1:
        code, values = codes[0]
        if code == DEFLATE:
            return "gzip"
        if code == LZF:
            return "lzf"
        if code == BLOSC2 and len(values) > 6 and values[6] in BLOSC2_CODECS:
            return f"blosc-{BLOSC2_CODECS[values[6]]}"
    return "+".join(HDF5PLUGIN_FILTERS.get(code, f"filter {code}") for code, _ in codes)


def require_filters(path, ds) -> None:
    """Make sure HDF5 can decode (and encode) every filter of `ds`, importing ``hdf5plugin`` if needed.

    Raises a one-line :class:`~pdesolve.DatasetError` naming the missing filter (and the
    ``fast-io`` extra for hdf5plugin's filters); reads no data.
    """
    from h5py import h5z

    for code, _values, name in filter_pipeline(ds):
        if h5z.filter_avail(code):
            continue
        label = HDF5PLUGIN_FILTERS.get(code)
        if label is not None:
            load_hdf5plugin(path, f"its {label}-compressed 'tensor' (HDF5 filter {code})")
            if h5z.filter_avail(code):
                continue
        raise DatasetError(
            f"{os.fspath(path)}: 'tensor' uses the HDF5 filter {code} ({name or 'unnamed'}), which this HDF5 "
            "cannot decode; install its plugin (or set HDF5_PLUGIN_PATH)"
        )
