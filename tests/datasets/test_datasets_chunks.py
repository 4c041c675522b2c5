"""Direct chunk reads (pread + threaded decoding) give exactly h5py's bytes, or fall back to h5py."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from pdesolve import DatasetError, InvalidInputError
from pdesolve.datasets import DataLoader, create_file, open_dataset, write_samples
from pdesolve.datasets._chunks import chunk_reader

N, T = 12, 5


@pytest.fixture(scope="module")
def data():
    """Smooth-ish float32 samples ``[N, T, 8, 6, 2]`` whose values also encode (sample, time)."""
    rng = np.random.default_rng(1)
    out = rng.normal(size=(N, T, 8, 6, 2)).astype(np.float32)
    out += (100 * np.arange(N)[:, None] + np.arange(T)[None, :])[:, :, None, None, None].astype(np.float32)
    return out


def _tensor_file(path, array, **options):
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=array, **options)
        f["x-coordinate"] = np.arange(array.shape[2], dtype=float)
        f["y-coordinate"] = np.arange(array.shape[3], dtype=float)
    return path


def _same_bytes(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _check_against_h5py(path, expect, *, direct_expected):
    idx = np.random.default_rng(2).choice(len(expect), size=9)  # with duplicates, unsorted
    with open_dataset(path, threads=3) as fast, open_dataset(path, direct=False) as slow:
        assert fast.direct is direct_expected and not slow.direct
        for times in (None, slice(1, 4), [0, 2, 4], 3, slice(0, 5, 2)):
            got = fast.read_batch(idx, times=times)
            assert _same_bytes(got, slow.read_batch(idx, times=times))
            frames = np.arange(T)[times] if not isinstance(times, list) else np.asarray(times)
            assert _same_bytes(got, expect[idx][:, frames].reshape(got.shape).astype(got.dtype))  # values
        fast.threads = 1  # the same bytes decoded in the caller's thread
        assert _same_bytes(fast.read_batch(idx), slow.read_batch(idx))


@pytest.mark.parametrize(
    "dtype, options",
    [
        (np.float32, dict(compression="gzip", compression_opts=4, shuffle=True)),  # pdesolve's default
        (np.float32, dict(compression="gzip", compression_opts=1)),
        (np.float32, dict(compression="lzf", shuffle=True)),
        (np.float32, dict()),  # chunked, no filter: preadv straight into the batch
        (np.float64, dict(compression="gzip", shuffle=True)),
        (np.int16, dict(shuffle=True)),
        (np.uint8, dict(compression="gzip", shuffle=True)),
        (np.int16, dict(compression="lzf")),  # decoded straight into the batch
    ],
)
def test_direct_reads_are_bit_identical_to_h5py(tmp_path, data, dtype, options):
    array = (data * 7).astype(dtype)
    path = _tensor_file(tmp_path / "t.h5", array, chunks=(1, 1, 8, 6, 2), **options)
    if "compression" in options:  # the filter really ran (HDF5 skips it where it would not shrink a chunk)
        with h5py.File(path, "r") as f:
            masks = []
            f["tensor"].id.chunk_iter(lambda info: masks.append(info.filter_mask))
        assert min(masks) == 0
    _check_against_h5py(path, array, direct_expected=True)


@pytest.mark.parametrize("time_block", [2, 5])
def test_chunks_holding_several_time_steps(tmp_path, data, time_block):
    path = _tensor_file(tmp_path / "t.h5", data, chunks=(1, time_block, 8, 6, 2), compression="gzip", shuffle=True)
    _check_against_h5py(path, data, direct_expected=True)


@pytest.mark.parametrize("compression", ["gzip", "lzf"])
def test_chunks_stored_unfiltered_by_hdf5_are_honoured(tmp_path, compression):
    # Random bytes do not compress: HDF5 stores such chunks raw and sets their filter-mask bit.
    rng = np.random.default_rng(3)
    array = rng.integers(0, 2**32, size=(6, T, 16, 16, 1), dtype=np.uint32).view(np.float32)
    path = _tensor_file(tmp_path / "noise.h5", array, chunks=(1, 1, 16, 16, 1), compression=compression)
    with h5py.File(path, "r") as f:
        masks = []
        f["tensor"].id.chunk_iter(lambda info: masks.append(info.filter_mask))
    if compression == "lzf":
        assert any(masks)  # the case under test really occurs
    _check_against_h5py(path, array, direct_expected=True)


@pytest.mark.parametrize(
    "options",
    [
        dict(),  # contiguous
        dict(chunks=(2, 1, 8, 6, 2), compression="gzip"),  # a chunk spans two samples
        dict(chunks=(1, 1, 4, 6, 2), compression="gzip"),  # a chunk holds part of the space
        dict(chunks=(1, 1, 8, 6, 2), fletcher32=True),  # a filter we do not decode
        dict(chunks=(1, 1, 8, 6, 2), compression="gzip", shuffle=True, dtype=">f4"),  # big-endian
    ],
)
def test_other_storage_falls_back_to_h5py(tmp_path, data, options):
    dtype = options.pop("dtype", None)
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=data, dtype=dtype, **options)
        f["x-coordinate"] = np.arange(8.0)
        f["y-coordinate"] = np.arange(6.0)
    _check_against_h5py(path, data, direct_expected=False)


def test_unwritten_chunks_fall_back_to_the_fill_value(tmp_path, data):
    path = tmp_path / "sparse.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("tensor", shape=data.shape, dtype=np.float32, chunks=(1, 1, 8, 6, 2),
                              compression="gzip", fillvalue=-5.0)
        ds[:4] = data[:4]
        ds[6, 2] = data[6, 2]
        f["x-coordinate"] = np.arange(8.0)
        f["y-coordinate"] = np.arange(6.0)
    with open_dataset(path) as d:
        assert d.direct
        assert _same_bytes(d.read_batch([3, 0]), data[[3, 0]])
        got = d.read_batch([6, 1])
        assert _same_bytes(got[1], data[1]) and _same_bytes(got[0, 2], data[6, 2])
        assert np.all(got[0, [0, 1, 3, 4]] == -5.0)


def _pdesolve_file(path, array, seed=0):
    n, t, *space, c = array.shape
    create_file(
        path, num_samples=n, times=np.arange(t, dtype=float), coordinates=[np.arange(s, dtype=float) for s in space],
        num_channels=c, config={"recipe": "synthetic", "num_samples": n, "seed": seed}, attrs={"nu": 0.5},
    )
    write_samples(path, 0, array, np.arange(seed, seed + n))
    return path


def test_pdesolve_file_and_incomplete_file(tmp_path, data):
    path = _pdesolve_file(tmp_path / "p.h5", data)
    _check_against_h5py(path, data, direct_expected=True)
    partial = tmp_path / "partial.h5"
    create_file(partial, num_samples=N, times=np.arange(T, dtype=float), coordinates=[np.arange(8.0), np.arange(6.0)],
                num_channels=2, config={"recipe": "synthetic"}, attrs={"nu": 0.5})
    write_samples(partial, 0, data[:5], np.arange(5))
    with open_dataset(partial, allow_incomplete=True) as d:
        assert d.direct and d.num_samples == 5
        assert _same_bytes(d.read_batch([4, 0, 2]), data[[4, 0, 2]])
        with pytest.raises(IndexError):
            d.read_batch([5])


def test_virtual_dataset_of_shards_reads_through_h5py(tmp_path, data):
    from pdesolve.distributed import link_shards

    shards = [str(_pdesolve_file(tmp_path / f"shard{k}.h5", data[6 * k : 6 * k + 6], seed=6 * k)) for k in range(2)]
    joined = link_shards(shards, tmp_path / "joined.h5")
    with h5py.File(joined, "r") as f:
        assert f["tensor"].is_virtual and chunk_reader(joined, f["tensor"]) is None
    _check_against_h5py(joined, data, direct_expected=False)


def test_pdebench_grouped_layout_reads_through_h5py(tmp_path, data):
    path = tmp_path / "groups.h5"
    with h5py.File(path, "w") as f:
        for i in range(N):
            g = f.create_group(f"{i:04d}")
            g.create_dataset("data", data=data[i], chunks=(1, 8, 6, 2), compression="gzip")
            g["grid/x"] = np.arange(8.0)
            g["grid/y"] = np.arange(6.0)
            g["grid/t"] = np.arange(float(T))
    _check_against_h5py(path, data, direct_expected=False)


def test_corrupt_chunk_gives_a_clear_error(tmp_path, data):
    path = _tensor_file(tmp_path / "t.h5", data, chunks=(1, 1, 8, 6, 2), compression="gzip", shuffle=True)
    with h5py.File(path, "r") as f:
        info = f["tensor"].id.get_chunk_info_by_coord((4, 3, 0, 0, 0))
    with open(path, "r+b") as f:
        f.seek(info.byte_offset + 2)
        f.write(b"\x00\xff" * ((info.size - 2) // 2))
    with open_dataset(path) as d:
        assert _same_bytes(d.read_batch([0, 5]), data[[0, 5]])  # other chunks still read
        with pytest.raises(DatasetError, match="corrupt data in a chunk of sample 4") as err:
            d.read_batch([7, 4, 1])
        assert "\n" not in str(err.value)
        assert _same_bytes(d.read_batch([4], times=[0, 1, 2]), data[[4]][:, :3])  # untouched frames


def test_thread_settings_and_closed_dataset(tmp_path, data):
    path = _tensor_file(tmp_path / "t.h5", data, chunks=(1, 1, 8, 6, 2), compression="gzip", shuffle=True)
    with pytest.raises(DatasetError, match="threads must be a positive integer"):
        open_dataset(path, threads=0)
    with pytest.raises(InvalidInputError, match="threads must be a positive integer"):
        DataLoader(path, 4, threads=-1)
    with DataLoader(path, 5, split="all", seed=1, threads=2, with_indices=True) as loader:
        assert loader.dataset.threads == 2
        seen = []
        for idx, batch in loader:
            assert _same_bytes(batch, data[idx])
            seen.extend(idx.tolist())
        assert sorted(seen) == list(range(N))
    d = open_dataset(path)
    d.close()
    with pytest.raises(DatasetError, match="closed"):
        d.read_batch([0])


def test_per_chunk_filter_masks_written_directly(tmp_path, data):
    # HDF5 records per chunk which filters were skipped; write such chunks by hand: one with no
    # filter applied, one deflated but not shuffled, next to normally filtered ones.
    import zlib

    path = _tensor_file(tmp_path / "t.h5", data, chunks=(1, 1, 8, 6, 2), compression="gzip", shuffle=True)
    with h5py.File(path, "r+") as f:
        ds = f["tensor"]
        ds.id.write_direct_chunk((3, 2, 0, 0, 0), data[3, 2].tobytes(), filter_mask=0b11)
        ds.id.write_direct_chunk((3, 4, 0, 0, 0), zlib.compress(data[3, 4].tobytes()), filter_mask=0b01)
    with h5py.File(path, "r") as f:
        assert np.array_equal(f["tensor"][3], data[3])  # h5py honours the masks
    _check_against_h5py(path, data, direct_expected=True)
    with open_dataset(path) as d:
        assert _same_bytes(d.read_batch([3, 2]), data[[3, 2]])


@pytest.mark.parametrize("options", [dict(compression="gzip", shuffle=True), dict()])
def test_chunk_past_the_end_of_the_file_is_reported(tmp_path, data, options):
    import os

    path = _tensor_file(tmp_path / "t.h5", data, chunks=(1, 1, 8, 6, 2), **options)
    with open_dataset(path) as d:
        d._chunks.offsets[2, 1] = os.path.getsize(path) - 10  # as if the file had been cut short
        with pytest.raises(DatasetError, match="truncated file: a chunk of sample 2"):
            d.read_batch([0, 2])
        assert _same_bytes(d.read_batch([1]), data[[1]])
