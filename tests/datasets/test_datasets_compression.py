"""Codecs of the ``tensor`` dataset: Blosc2 (LZ4, Zstd) through hdf5plugin, and a clear error without it."""

from __future__ import annotations

import hashlib
import sys

import h5py
import numpy as np
import pytest

from pdesolve import DatasetError
from pdesolve.datasets import (
    COMPRESSIONS,
    DataLoader,
    create_file,
    describe_file,
    open_dataset,
    validate_file,
    write_samples,
)

N, T = 10, 4
BLOSC = ["blosc-lz4", "blosc-zstd"]


@pytest.fixture(scope="module")
def data():
    """Smooth float32 fields ``[N, T, 32, 24, 1]`` on a 1/64 lattice (compressible) encoding (sample, time)."""
    x = np.linspace(0, 2 * np.pi, 32, endpoint=False)[:, None]
    y = np.linspace(0, 2 * np.pi, 24, endpoint=False)[None, :]
    out = np.empty((N, T, 32, 24, 1), np.float32)
    for i in range(N):
        for t in range(T):
            out[i, t, :, :, 0] = np.round(64 * np.sin(x + 0.3 * i) * np.cos(y - 0.1 * t)) / 64 + 10 * i + t
    return out


def _pdesolve_file(path, array, compression, **options):
    n, t, *space, c = array.shape
    create_file(
        path, num_samples=n, times=np.arange(t, dtype=float), coordinates=[np.arange(s, dtype=float) for s in space],
        num_channels=c, config={"recipe": "synthetic", "num_samples": n}, attrs={"nu": 0.5},
        compression=compression, **options,
    )
    write_samples(path, 0, array, np.arange(n))
    return path


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _same_bytes(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_compressions_are_listed():
    assert COMPRESSIONS == ("gzip", "lzf", "blosc-lz4", "blosc-zstd", "none")


@pytest.mark.parametrize("compression", BLOSC)
def test_blosc_files_round_trip_bit_for_bit(tmp_path, data, compression):
    hdf5plugin = pytest.importorskip("hdf5plugin")
    path = _pdesolve_file(tmp_path / "b.h5", data, compression)
    info = validate_file(path)
    assert info.compression == compression
    with h5py.File(path, "r") as f:  # the Blosc2 filter, with its byte shuffle and codec
        (code, _flags, values, _name), = [f["tensor"].id.get_create_plist().get_filter(0)]
        assert code == hdf5plugin.BLOSC2_ID and values[5] == hdf5plugin.Blosc2.SHUFFLE
        assert values[6] == {"blosc-lz4": 1, "blosc-zstd": 5}[compression]
        assert _same_bytes(f["tensor"][()], data)  # plain h5py reads it once hdf5plugin is imported
        sizes = []
        f["tensor"].id.chunk_iter(lambda chunk: sizes.append(chunk.size))
    assert max(sizes) < data[0, 0].nbytes  # really compressed
    idx = np.array([7, 2, 2, 9, 0, 5])
    with open_dataset(path, threads=3) as fast, open_dataset(path, direct=False) as slow:
        assert fast.direct and not slow.direct
        for times, frames in ((None, [0, 1, 2, 3]), (slice(1, 3), [1, 2]), ([0, 3], [0, 3])):
            got = fast.read_batch(idx, times=times)
            assert _same_bytes(got, slow.read_batch(idx, times=times))
            assert _same_bytes(got, data[idx][:, frames])
        fast.threads = 1
        assert _same_bytes(fast.read_batch(idx), data[idx])
    with DataLoader(path, 4, split="all", seed=3, with_indices=True, threads=2) as loader:
        seen = []
        for batch_idx, batch in loader:
            assert _same_bytes(batch, data[batch_idx])
            seen.extend(batch_idx.tolist())
    assert sorted(seen) == list(range(N))
    assert describe_file(path)["num_samples"] == N


def test_blosc_level_and_shuffle_options(tmp_path, data):
    pytest.importorskip("hdf5plugin")
    sizes = {}
    for name, options in [("default", {}), ("level9", dict(compression_level=9)), ("noshuffle", dict(shuffle=False))]:
        path = _pdesolve_file(tmp_path / f"{name}.h5", data, "blosc-zstd", **options)
        with h5py.File(path, "r") as f:
            values = f["tensor"].id.get_create_plist().get_filter(0)[2]
        sizes[name] = values[4:6]  # (level, shuffle)
        with open_dataset(path) as d:
            assert _same_bytes(d[:], data)
    assert sizes == {"default": (1, 1), "level9": (9, 1), "noshuffle": (1, 0)}
    with pytest.raises(DatasetError, match=r"compression level must be an integer in \[0, 9\]"):
        _pdesolve_file(tmp_path / "bad.h5", data, "blosc-lz4", compression_level=12)
    with pytest.raises(DatasetError, match="compression must be one of gzip, lzf, blosc-lz4, blosc-zstd, none"):
        _pdesolve_file(tmp_path / "bad.h5", data, "blosc")


def test_blosc_chunks_stored_unfiltered_and_corrupt_chunks(tmp_path, data):
    pytest.importorskip("hdf5plugin")
    path = _pdesolve_file(tmp_path / "b.h5", data, "blosc-lz4")
    with h5py.File(path, "r+") as f:  # a chunk HDF5 stored without its (optional) filter
        f["tensor"].id.write_direct_chunk((3, 1, 0, 0, 0), data[3, 1].tobytes(), filter_mask=1)
    with open_dataset(path, threads=2) as d:
        assert _same_bytes(d.read_batch([3, 1]), data[[3, 1]])
    with h5py.File(path, "r") as f:
        info = f["tensor"].id.get_chunk_info_by_coord((6, 2, 0, 0, 0))
    with open(path, "r+b") as f:  # overwrite the compressed payload, keep the header
        f.seek(info.byte_offset + info.size // 2)
        f.write(b"\xff" * (info.size - info.size // 2))
    with open_dataset(path, allow_incomplete=True) as d:  # validation reads samples 0 and N-1 only
        assert _same_bytes(d.read_batch([0, 8]), data[[0, 8]])
        with pytest.raises(DatasetError, match="corrupt data in a chunk of sample 6") as err:
            d.read_batch([1, 6, 9])
        assert "\n" not in str(err.value)
        assert _same_bytes(d.read_batch([6], times=[0, 1, 3]), data[[6]][:, [0, 1, 3]])  # other frames
        assert _same_bytes(d.read_batch([9, 4]), data[[9, 4]])  # decoding still works afterwards


def _blosc_file_without_plugin(path, array):
    """A pdesolve-v1 file whose tensor uses the Blosc2 filter (LZ4), written without hdf5plugin.

    The chunks are stored with ``write_direct_chunk`` (their bytes are never decoded here).
    """
    plain = path.with_name("plain.h5")
    _pdesolve_file(plain, array, "none")
    with h5py.File(plain, "r") as src, h5py.File(path, "w") as dst:
        for name in src:
            if name != "tensor":
                src.copy(name, dst)
        dst.attrs.update(src.attrs)
        ds = dst.create_dataset(
            "tensor", shape=array.shape, dtype=np.float32, chunks=(1, 1) + array.shape[2:],
            compression=32026, compression_opts=(1, 0, 4, array[0, 0].nbytes, 5, 1, 1), allow_unknown_filter=True,
        )
        for i in range(array.shape[0]):
            for t in range(array.shape[1]):
                ds.id.write_direct_chunk((i, t, 0, 0, 0), b"not decoded here" * 4)
    return path


def test_without_hdf5plugin_blosc_gives_a_clear_error_and_changes_nothing(tmp_path, data, monkeypatch):
    from h5py import h5z

    path = _blosc_file_without_plugin(tmp_path / "b.h5", data)
    before = _digest(path)
    # As if hdf5plugin were not installed: importing it fails, and HDF5 has no Blosc2 filter.
    monkeypatch.setitem(sys.modules, "hdf5plugin", None)
    monkeypatch.setattr(h5z, "filter_avail", lambda code: code in (1, 2, 3, 32000))
    extra = 'pip install "pdesolve[fast-io]"'
    with pytest.raises(DatasetError, match="compression 'blosc-lz4' needs the hdf5plugin package") as err:
        _pdesolve_file(tmp_path / "new.h5", data, "blosc-lz4")
    assert extra in str(err.value) and not (tmp_path / "new.h5").exists()
    for call in (lambda: open_dataset(path), lambda: validate_file(path), lambda: describe_file(path),
                 lambda: DataLoader(path, 2), lambda: write_samples(path, 0, data[:1], np.arange(1))):
        with pytest.raises(DatasetError) as err:
            call()
        message = str(err.value)
        assert message.startswith(f"{path}: ") and "Blosc2" in message and extra in message and "\n" not in message
    assert validate_file(path, check_data=False).compression == "blosc-lz4"  # described without decoding
    assert _digest(path) == before  # nothing read into a wrong state, nothing written


def test_blosc_file_written_with_plugin_fails_cleanly_without_it(tmp_path, data, monkeypatch):
    pytest.importorskip("hdf5plugin")
    from h5py import h5z

    path = _pdesolve_file(tmp_path / "b.h5", data, "blosc-zstd")
    before = _digest(path)
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "hdf5plugin", None)
        patch.setattr(h5z, "filter_avail", lambda code: code in (1, 2, 3, 32000))
        with pytest.raises(DatasetError, match="fast-io"):
            open_dataset(path)
    assert _digest(path) == before
    with open_dataset(path) as d:  # with the plugin back, everything is there
        assert _same_bytes(d[:], data)


@pytest.mark.parametrize("compression", ["gzip", "none", "blosc-lz4"])
def test_decode_seconds(tmp_path, data, compression):
    if compression.startswith("blosc"):
        pytest.importorskip("hdf5plugin")
    path = _pdesolve_file(tmp_path / "d.h5", data, compression)
    with open_dataset(path) as d:
        before = d[:]
        seconds = d.decode_seconds()
        assert isinstance(seconds, float) and 0.0 <= seconds < 60.0
        assert d.decode_seconds([], times=[0]) == 0.0
        assert d.decode_seconds([3, 1], times=slice(0, 2), group=1) >= 0.0
        with pytest.raises(IndexError):
            d.decode_seconds([N])
        with pytest.raises(DatasetError, match="group must be a positive integer"):
            d.decode_seconds(group=0)
        assert _same_bytes(d[:], before)
    with open_dataset(path, direct=False) as d, pytest.raises(DatasetError, match="needs direct chunk reads"):
        d.decode_seconds()


def test_will_need_is_a_harmless_hint(tmp_path, data):
    path = _pdesolve_file(tmp_path / "w.h5", data, "gzip")
    with open_dataset(path) as d, open_dataset(path, direct=False) as slow:
        d.will_need([4, 1, 4], times=[0, 2])
        d.will_need([], times=None)
        d.will_need([N + 3])  # out of range: ignored (the read reports it)
        slow.will_need([0, 1])  # read through h5py: nothing to do
        assert _same_bytes(d.read_batch([4, 1], times=[0, 2]), data[[4, 1]][:, [0, 2]])
    d.will_need([0])  # closed: nothing to do


def test_bench_datasets_path_names_one_codec(tmp_path):
    from pdesolve import InvalidInputError
    from pdesolve.bench import run_datasets_benchmark

    with pytest.raises(InvalidInputError, match="path names one file"):
        run_datasets_benchmark(quick=True, path=str(tmp_path / "x.h5"))
    with pytest.raises(InvalidInputError, match="compression must be one of"):
        run_datasets_benchmark(quick=True, compression="brotli")


def test_unknown_filter_is_reported_before_reading(tmp_path, data):
    path = tmp_path / "unknown.h5"
    with h5py.File(path, "w") as f:  # a PDEBench-style tensor whose filter no one registered
        ds = f.create_dataset("tensor", shape=data.shape, dtype=np.float32, chunks=(1, 1) + data.shape[2:],
                              compression=31999, allow_unknown_filter=True)
        ds.id.write_direct_chunk((0, 0, 0, 0, 0), b"\x00" * 64)
        f["x-coordinate"] = np.arange(data.shape[2], dtype=float)
        f["y-coordinate"] = np.arange(data.shape[3], dtype=float)
    before = _digest(path)
    with pytest.raises(DatasetError, match="uses the HDF5 filter 31999 .* which this HDF5 cannot decode") as err:
        open_dataset(path)
    assert "\n" not in str(err.value) and _digest(path) == before


def test_blosc_chunk_past_the_end_of_the_file_is_reported(tmp_path, data):
    pytest.importorskip("hdf5plugin")
    import os

    path = _pdesolve_file(tmp_path / "b.h5", data, "blosc-lz4")
    with open_dataset(path) as d:
        d._chunks.offsets[2, 1] = os.path.getsize(path) - 10  # as if the file had been cut short
        with pytest.raises(DatasetError, match="truncated file: a chunk of sample 2"):
            d.read_batch([0, 2])
        assert _same_bytes(d.read_batch([1, 3]), data[[1, 3]])
