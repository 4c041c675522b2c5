"""HDF5 datasets: layout, generation (atomic, resumable, reproducible), PDEBench files, loader, CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest

from pdesolve import DatasetError, InvalidInputError
from pdesolve.cli._main import main as cli_main
from pdesolve.datasets import (
    DataLoader,
    describe_file,
    generate,
    open_dataset,
    regenerate_samples,
    resolve_config,
    spectral_truncate,
    split_indices,
    validate_file,
)
from pdesolve.datasets._generate import KILL_AFTER_ENV

# A tiny recipe: 6 samples of 1D heat at 16 points, 5 frames, solved in batches of 2.
SMALL = dict(recipe="heat1d", n=6, resolution=16, seed=7, batch_size=2, t_final=0.4, dt_save=0.1)


def _generate(path, **changes):
    kwargs = dict(SMALL, **changes)
    return generate(kwargs.pop("recipe"), kwargs.pop("n"), kwargs.pop("resolution"), path, progress=False, **kwargs)


def _tensor(path):
    with h5py.File(path, "r") as f:
        return f["tensor"][()], f["seeds"][()]


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "heat1d.h5"
    _generate(path)
    return path


def _write_pdesolve_like(path, data, *, compression="gzip", chunks=True, **attrs):
    """A pdesolve-v1 file with given data (no solver), via the writer's own functions."""
    from pdesolve.datasets import create_file, write_samples

    n, t, *space, c = data.shape
    create_file(
        path, num_samples=n, times=np.arange(t, dtype=float), coordinates=[np.arange(s, dtype=float) for s in space],
        num_channels=c, config={"recipe": "synthetic"}, attrs={"nu": 0.5, **attrs}, compression=compression,
    )
    write_samples(path, 0, data, np.arange(n))


@pytest.fixture(scope="module")
def indexed_file(tmp_path_factory):
    """40 samples whose every value encodes (sample, time): value = 1000 * sample + time + noise."""
    rng = np.random.default_rng(0)
    n, t = 40, 6
    data = rng.normal(size=(n, t, 8, 4, 2)).astype(np.float32) * 0.01
    data += (1000 * np.arange(n)[:, None] + np.arange(t)[None, :])[:, :, None, None, None].astype(np.float32)
    path = tmp_path_factory.mktemp("idx") / "indexed.h5"
    _write_pdesolve_like(path, data)
    return path, data


# ---------------------------------------------------------------------------------------- layout
def test_layout_round_trip(small_file):
    info = validate_file(small_file)
    assert (info.num_samples, info.num_complete, info.sample_shape) == (6, 6, (5, 16, 1))
    assert info.axes == "sample,t,x,channel"
    assert info.chunks == (1, 1, 16, 1) and info.compression == "gzip"
    expected = resolve_config("heat1d", 6, 16, seed=7, batch_size=2, t_final=0.4, dt_save=0.1)
    assert info.config == json.loads(json.dumps(expected))
    with h5py.File(small_file, "r") as f:
        assert f.attrs["nu"] == pytest.approx(0.02)
        assert f.attrs["pdesolve_version"]
        np.testing.assert_allclose(f["t-coordinate"][()], [0, 0.1, 0.2, 0.3, 0.4])
        np.testing.assert_allclose(f["x-coordinate"][()], np.arange(16) * 2 * np.pi / 16)
        assert list(f["seeds"][()]) == [7, 8, 9, 10, 11, 12]
        assert f["tensor"].dtype == np.float32
    with open_dataset(small_file) as data:
        assert data.layout == "pdesolve-v1" and data.sample_shape == (5, 16, 1)
        stored, _ = _tensor(small_file)
        np.testing.assert_array_equal(data[:], stored)
        np.testing.assert_array_equal(data[3], stored[3])
    # heat: every Fourier mode decays, so the maximum never grows (and data are not all zero)
    assert np.all(np.abs(stored).max(axis=(2, 3))[:, 1:] <= np.abs(stored).max(axis=(2, 3))[:, :-1] + 1e-6)
    assert np.abs(stored).max() > 0.1


def test_seeds_reproduce_samples(small_file):
    stored, seeds = _tensor(small_file)
    again = regenerate_samples(small_file, [4, 1])
    np.testing.assert_array_equal(again, stored[[4, 1]])
    assert not np.array_equal(stored[0], stored[1])  # different seeds give different samples


def test_spectral_truncation_keeps_band_limited_fields():
    x = np.arange(64) / 64
    fine = np.sin(2 * np.pi * 3 * x)[None] + 0.5 * np.cos(2 * np.pi * 5 * x)[None]
    coarse = np.asarray(spectral_truncate(fine, (16,)))
    np.testing.assert_allclose(coarse[0], fine[0, ::4], atol=1e-12)
    x2 = np.arange(32) / 32
    f2 = np.sin(2 * np.pi * (x2[:, None] + 2 * x2[None, :]))[None]
    np.testing.assert_allclose(np.asarray(spectral_truncate(f2, (8, 8)))[0], f2[0, ::4, ::4], atol=1e-12)


def test_bad_generation_arguments(tmp_path):
    with pytest.raises(InvalidInputError, match="unknown recipe"):
        generate("heat9d", 2, 16, tmp_path / "x.h5")
    with pytest.raises(InvalidInputError, match="t_final"):
        generate("heat1d", 2, 16, tmp_path / "x.h5", t_final=0.25, dt_save=0.1)
    with pytest.raises(InvalidInputError, match="unknown parameter"):
        generate("heat1d", 2, 16, tmp_path / "x.h5", drag=1.0)
    assert not os.listdir(tmp_path)


def test_existing_output_is_not_overwritten(small_file, tmp_path):
    out = tmp_path / "copy.h5"
    shutil.copy(small_file, out)
    with pytest.raises(DatasetError, match="already exists"):
        _generate(out)


# ------------------------------------------------------------------------- atomicity and resume
def test_atomic_write_and_resume_after_an_exception(small_file, tmp_path, monkeypatch):
    import pdesolve.datasets._generate as gen

    out = tmp_path / "atomic.h5"
    real = gen.write_samples
    calls = []

    def failing(path, start, data, seeds):
        calls.append(start)
        assert not out.exists()  # the final file never exists while work is in progress
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real(path, start, data, seeds)

    monkeypatch.setattr(gen, "write_samples", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        _generate(out)
    monkeypatch.setattr(gen, "write_samples", real)
    assert not out.exists()
    tmp = str(out) + ".tmp"
    assert validate_file(tmp, allow_incomplete=True).num_complete == 2
    with pytest.raises(DatasetError, match="incomplete: only 2 of 6"):
        validate_file(tmp)
    with pytest.raises(DatasetError, match="interrupted generation is in the way"):
        _generate(out)
    _generate(out, resume=True)
    assert not os.path.exists(tmp)
    np.testing.assert_array_equal(_tensor(out)[0], _tensor(small_file)[0])


def test_sigkilled_generation_resumes_bit_identical(small_file, tmp_path):
    out = tmp_path / "killed.h5"
    env = dict(os.environ, **{KILL_AFTER_ENV: "1"})
    cmd = [sys.executable, "-m", "pdesolve", "generate", "heat1d", "--n", "6", "--resolution", "16", "--seed", "7",
           "--batch-size", "2", "--t-final", "0.4", "--dt-save", "0.1", "--out", str(out), "--no-progress"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not out.exists()
    tmp = str(out) + ".tmp"
    assert validate_file(tmp, allow_incomplete=True).num_complete == 2  # the first batch survived the kill
    assert cli_main(["datasets", "info", tmp]) == 2  # "incomplete: only 2 of 6 samples were written"
    # a different recipe cannot resume it
    with pytest.raises(DatasetError, match="cannot resume.*nu"):
        _generate(out, resume=True, nu=0.05)
    with pytest.raises(DatasetError, match="cannot resume.*num_samples"):
        _generate(out, resume=True, n=8)
    damaged = tmp_path / "damaged.h5"
    with open(str(damaged) + ".tmp", "wb") as f:
        f.write(open(tmp, "rb").read()[:2000])
    with pytest.raises(DatasetError, match="cannot resume.*truncated.*delete"):
        _generate(damaged, resume=True)
    assert cli_main(cmd[3:] + ["--resume"]) == 0
    assert not os.path.exists(tmp)
    killed, killed_seeds = _tensor(out)
    reference, reference_seeds = _tensor(small_file)
    np.testing.assert_array_equal(killed, reference)  # bit-identical to the uninterrupted run
    np.testing.assert_array_equal(killed_seeds, reference_seeds)
    # resuming a finished file with the same recipe is a no-op
    assert _generate(out, resume=True).num_complete == 6


# --------------------------------------------------------------------------------- bad files
def test_bad_files_give_clear_errors(small_file, tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("hello, not hdf5\n" * 10)
    with pytest.raises(DatasetError, match="not an HDF5 file"):
        open_dataset(text)
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    with pytest.raises(DatasetError, match="empty file"):
        validate_file(empty)
    with pytest.raises(DatasetError, match="no such file"):
        open_dataset(tmp_path / "missing.h5")

    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["weights"] = np.zeros(3)
        f["images"] = np.zeros((2, 4, 4))
    with pytest.raises(DatasetError, match="unknown layout.*images, weights"):
        open_dataset(foreign)
    with pytest.raises(DatasetError, match="unknown layout"):
        validate_file(foreign)

    other = tmp_path / "other_layout.h5"
    shutil.copy(small_file, other)
    with h5py.File(other, "r+") as f:
        f.attrs["layout"] = "someone-else-v9"
    with pytest.raises(DatasetError, match="unknown layout 'someone-else-v9'"):
        open_dataset(other)

    mismatch = tmp_path / "mismatch.h5"
    shutil.copy(small_file, mismatch)
    with h5py.File(mismatch, "r+") as f:
        del f["x-coordinate"]
        f["x-coordinate"] = np.arange(9.0)
    with pytest.raises(DatasetError, match="shape mismatch: 'x-coordinate' has 9 points"):
        validate_file(mismatch)

    truncated = tmp_path / "truncated.h5"
    data = small_file.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="truncated HDF5 file") as err:
        with open_dataset(truncated) as ds:
            ds.read_batch(range(ds.num_samples))
    assert "\n" not in str(err.value) and str(truncated) in str(err.value)


def test_corrupt_chunk_bytes(small_file, tmp_path):
    bad = tmp_path / "corrupt.h5"
    shutil.copy(small_file, bad)
    with h5py.File(bad, "r") as f:
        info = f["tensor"].id.get_chunk_info_by_coord((3, 2, 0, 0))
    with open(bad, "r+b") as f:
        f.seek(info.byte_offset)
        f.write(b"\xff" * info.size)
    with open_dataset(bad) as ds:
        ds.read_batch([0, 1])  # undamaged samples still read
        with pytest.raises(DatasetError, match="corrupt data"):
            ds.read_batch([5, 3])
    with pytest.raises(DatasetError, match="corrupt"):
        validate_file(bad, deep=True)


def test_nan_samples_are_reported(tmp_path):
    data = np.ones((4, 3, 8, 1), np.float32)
    data[2, 1, 5, 0] = np.nan
    path = tmp_path / "nan.h5"
    _write_pdesolve_like(path, data)
    validate_file(path)  # the cheap check reads only the first and last samples
    with pytest.raises(DatasetError, match="sample 2 contains NaN"):
        validate_file(path, deep=True)
    with pytest.raises(DatasetError, match="sample 2 contains NaN"):
        describe_file(path, deep=True)


# ------------------------------------------------------------------------------- PDEBench files
def test_pdebench_tensor_layout_1d(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(size=(5, 11, 32)).astype(np.float32)  # PDEBench 1D: [sample, t, x], no channel
    path = tmp_path / "1D_Advection_Sols_beta0.1.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=data, chunks=(1, 11, 32), compression="gzip")
        f["x-coordinate"] = np.linspace(0, 1, 32)
        f["t-coordinate"] = np.linspace(0, 2, 12)  # PDEBench stores one more time than frames
        f.attrs["beta"] = 0.1
    with open_dataset(path) as ds:
        assert ds.layout == "pdebench-tensor" and ds.sample_shape == (11, 32, 1)
        assert len(ds.coordinates["t"]) == 11 and ds.attrs["beta"] == pytest.approx(0.1)
        np.testing.assert_array_equal(ds.read_batch([4, 0, 2]), data[[4, 0, 2], ..., None])
        np.testing.assert_array_equal(ds.read_batch([1], times=slice(2, 9, 3))[0], data[1, 2:9:3, :, None])
    desc = describe_file(path)
    assert desc["layout"] == "pdebench-tensor" and desc["num_samples"] == 5


def test_pdebench_tensor_layout_2d_with_channels(tmp_path):
    rng = np.random.default_rng(2)
    data = rng.normal(size=(4, 3, 8, 6, 2)).astype(np.float32)
    path = tmp_path / "2D_CFD.hdf5"
    with h5py.File(path, "w") as f:
        f["tensor"] = data  # contiguous storage
        f["x-coordinate"] = np.linspace(0, 1, 8)
        f["y-coordinate"] = np.linspace(0, 1, 6)
        f["t-coordinate"] = np.linspace(0, 1, 3)
    with open_dataset(path) as ds:
        assert ds.sample_shape == (3, 8, 6, 2) and ds.ndim == 2
        np.testing.assert_array_equal(ds.read_batch([3, 1, 3]), data[[3, 1, 3]])
        with DataLoader(ds, 3, split="all", seed=0, with_indices=True) as loader:
            for idx, batch in loader:
                np.testing.assert_array_equal(batch, data[idx])


def test_pdebench_grouped_layout(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.normal(size=(6, 5, 8, 8, 1)).astype(np.float32)
    path = tmp_path / "2D_diff-react_NA_NA.h5"
    with h5py.File(path, "w") as f:
        for seed in range(6):
            g = f.create_group(f"{seed:04d}")
            g.create_dataset("data", data=data[seed], chunks=(1, 8, 8, 1), compression="gzip", shuffle=True)
            g["grid/x"] = np.linspace(-1, 1, 8)
            g["grid/y"] = np.linspace(-1, 1, 8)
            g["grid/t"] = np.linspace(0, 5, 5)
    with open_dataset(path) as ds:
        assert ds.layout == "pdebench-groups" and ds.num_samples == 6 and ds.sample_shape == (5, 8, 8, 1)
        np.testing.assert_allclose(ds.coordinates["x"], np.linspace(-1, 1, 8))
        np.testing.assert_array_equal(ds.read_batch([5, 0, 3], times=[0, 2, 4]), data[[5, 0, 3]][:, [0, 2, 4]])
    assert cli_main(["datasets", "info", str(path)]) == 0


# ------------------------------------------------------------------------- storage variants
@pytest.mark.parametrize(
    "options",
    [
        dict(compression="gzip", shuffle=True, chunks=(1, 1, 8, 4, 2)),
        dict(compression="gzip", shuffle=False, chunks=(1, 3, 8, 4, 2)),
        dict(chunks=(1, 2, 8, 4, 2)),
        dict(chunks=(1, 1, 8, 4, 2)),
        dict(compression="gzip", shuffle=True, chunks=(1, 1, 8, 4, 2), dtype=np.float64),
        dict(compression="gzip", shuffle=True, chunks=(1, 2, 8, 4, 2), dtype=np.int16),
        dict(shuffle=True, chunks=(1, 1, 8, 4, 2), dtype=np.float64),
        dict(compression="lzf", chunks=(1, 1, 8, 4, 2)),  # read through h5py
        dict(chunks=(2, 1, 8, 4, 2)),  # chunks span samples: read through h5py
        dict(),  # contiguous
    ],
)
def test_batched_reads_match_numpy_for_any_storage(indexed_file, tmp_path, options):
    _, data = indexed_file
    data = data.astype(options.pop("dtype", np.float32))
    path = tmp_path / "pdebench.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=data[:, :5], **options)
        f["x-coordinate"] = np.arange(8.0)
        f["y-coordinate"] = np.arange(4.0)
    rng = np.random.default_rng(4)
    idx = rng.choice(40, size=17)  # with duplicates
    with open_dataset(path) as ds:
        for times in (None, slice(1, 4), [0, 3, 4], 2):
            expect = data[:, :5][idx][:, np.arange(5)[times] if not isinstance(times, list) else times]
            got = ds.read_batch(idx, times=times)
            np.testing.assert_array_equal(got, expect.reshape(got.shape))
        with pytest.raises(DatasetError, match="strictly increasing"):
            ds.read_batch([0], times=[3, 1])
        with pytest.raises(IndexError):
            ds.read_batch([40])


# ------------------------------------------------------------------------------------- loader
def test_split_indices_disjoint_and_complete():
    parts = split_indices(103, (0.7, 0.2, 0.1))
    train, val, test = parts["train"], parts["val"], parts["test"]
    assert (len(train), len(val), len(test)) == (72, 21, 10)
    assert not set(train) & set(val) and not set(train) & set(test) and not set(val) & set(test)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val, test])), np.arange(103))
    with pytest.raises(InvalidInputError, match="sum to 1"):
        split_indices(10, (0.5, 0.2, 0.2))


def test_loader_epoch_covers_each_sample_once(indexed_file):
    path, data = indexed_file
    for split, expected in (("train", range(32)), ("val", range(32, 36)), ("test", range(36, 40))):
        with DataLoader(path, 5, split=split, seed=3, with_indices=True) as loader:
            seen = []
            for idx, batch in loader:
                assert batch.shape[1:] == data.shape[1:]
                np.testing.assert_array_equal(batch, data[idx])  # the data belong to the yielded indices
                seen.extend(idx.tolist())
            assert sorted(seen) == list(expected)
            assert len(loader) == -(-len(expected) // 5)
    with DataLoader(path, 6, split="train", drop_last=True) as loader:
        assert [len(b) for b in loader] == [6] * 5


def test_loader_shards_split_every_global_batch_between_processes(indexed_file):
    path, data = indexed_file
    with DataLoader(path, 6, split="train", seed=1, with_indices=True) as whole:
        expected = [idx for idx, _ in whole]
    parts = []
    for index in range(3):
        with DataLoader(path, 6, split="train", seed=1, with_indices=True, shard=(index, 3)) as loader:
            batches = list(loader)
        for idx, batch in batches:
            np.testing.assert_array_equal(batch, data[idx])
        parts.append([idx for idx, _ in batches])
    for number, idx in enumerate(expected):  # the shards' rows, in process order, are the global batch
        np.testing.assert_array_equal(np.concatenate([p[number] for p in parts]), idx)
    assert [len(b) for b in parts[0][:-1]] == [2] * (len(expected) - 1)
    for bad in ((3, 3), (-1, 2), (0, 0), "x"):
        with pytest.raises(InvalidInputError, match="shard"):
            DataLoader(path, 6, shard=bad)


def test_loader_order_is_deterministic_and_resumable(indexed_file):
    path, _ = indexed_file

    def orders(**kw):
        with DataLoader(path, 4, with_indices=True, **kw) as loader:
            epochs = []
            for _ in range(2):
                epochs.append(np.concatenate([idx for idx, _ in loader]))
            return epochs

    a0, a1 = orders(seed=11)
    b0, b1 = orders(seed=11)
    np.testing.assert_array_equal(a0, b0)
    np.testing.assert_array_equal(a1, b1)
    assert not np.array_equal(a0, a1)  # a new shuffle each epoch
    assert not np.array_equal(a0, orders(seed=12)[0])
    with DataLoader(path, 4, seed=11, with_indices=True) as loader:
        loader.set_epoch(1)  # resuming training at epoch 1 replays the same order
        np.testing.assert_array_equal(np.concatenate([idx for idx, _ in loader]), a1)
        assert [b.tolist() for b in loader.batch_indices(0)] == [a0[k : k + 4].tolist() for k in range(0, 32, 4)]
    with DataLoader(path, 4, shuffle=False, with_indices=True, prefetch=0) as loader:
        np.testing.assert_array_equal(np.concatenate([idx for idx, _ in loader]), np.arange(32))


def test_loader_time_windows(indexed_file):
    path, data = indexed_file
    with DataLoader(path, 8, split="val", input_steps=2, target_steps=3, with_indices=True) as loader:
        for idx, inputs, targets in loader:
            np.testing.assert_array_equal(inputs, data[idx][:, :2])
            np.testing.assert_array_equal(targets, data[idx][:, 2:5])
    with DataLoader(path, 8, split="val", input_steps=1, time_stride=2) as loader:
        inputs, targets = next(iter(loader))
        assert inputs.shape[1] == 1 and targets.shape[1] == 2  # frames 0 | 2, 4
        np.testing.assert_array_equal(np.round(targets[:, :, 0, 0, 0] % 1000), [[2, 4]] * len(targets))
    with DataLoader(path, 8, split="val", input_steps=2, target_steps=1, start_step=3) as loader:
        inputs, targets = next(iter(loader))
        np.testing.assert_array_equal(np.round(inputs[:, :, 0, 0, 0] % 1000), [[3, 4]] * len(inputs))
        np.testing.assert_array_equal(np.round(targets[:, :, 0, 0, 0] % 1000), [[5]] * len(inputs))
    with pytest.raises(InvalidInputError, match="input_steps"):
        DataLoader(path, 8, input_steps=6)
    with pytest.raises(InvalidInputError, match="start_step"):
        DataLoader(path, 8, start_step=6)
    with pytest.raises(InvalidInputError, match="batch_size"):
        DataLoader(path, 0)


def test_prefetch_thread_errors_reach_the_consumer(indexed_file):
    path, _ = indexed_file
    with DataLoader(path, 4, prefetch=2) as loader:
        real = loader.dataset.read_batch
        calls = []

        def flaky(idx, times=None):
            calls.append(1)
            if len(calls) == 3:
                raise DatasetError("simulated read failure")
            return real(idx, times=times)

        loader.dataset.read_batch = flaky
        got = []
        with pytest.raises(DatasetError, match="simulated read failure"):
            for batch in loader:
                got.append(batch)
        assert len(got) == 2
        # stopping an epoch early stops its reader thread; the loader stays usable
        loader.dataset.read_batch = real
        for batch in loader:
            break
        assert len(list(loader)) == len(loader)


# ----------------------------------------------------------------------------------------- CLI
def test_datasets_info_cli(small_file, tmp_path, capsys):
    assert cli_main(["datasets", "info", str(small_file), "--json"]) == 0
    desc = json.loads(capsys.readouterr().out)
    assert desc["valid"] and desc["layout"] == "pdesolve-v1" and desc["sample_shape"] == [5, 16, 1]
    names = {d["name"]: d for d in desc["datasets"]}
    assert names["tensor"]["chunks"] == [1, 1, 16, 1] and names["tensor"]["compression"] == "gzip"
    assert desc["attrs"]["axes"] == "sample,t,x,channel" and desc["attrs"]["config"]["recipe"] == "heat1d"
    assert cli_main(["datasets", "info", str(small_file)]) == 0
    assert "tensor" in capsys.readouterr().out
    junk = tmp_path / "junk.h5"
    junk.write_bytes(os.urandom(4096))
    assert cli_main(["datasets", "info", str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not an HDF5 file" in err


def test_generate_cli_json(tmp_path, capsys):
    out = tmp_path / "b.h5"
    args = ["generate", "burgers1d", "--n", "2", "--resolution", "16", "--t-final", "0.1", "--dt-save", "0.05",
            "--out", str(out), "--json"]
    assert cli_main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["sample_shape"] == [3, 16, 1] and summary["config"]["solve_resolution"] == 256
    with open_dataset(out) as ds:
        stored = ds[:]
    # the file holds what the recipe's solver gives for the recorded seeds, bit for bit
    np.testing.assert_array_equal(stored, regenerate_samples(out, [0, 1]))
    assert np.abs(stored[:, 0]).max() == pytest.approx(1.0, rel=1e-6)  # the recipe scales max |u0| to 1
    assert cli_main(args) == 2  # exists already
    assert "already exists" in capsys.readouterr().err


def test_bench_datasets_quick_keys(capsys):
    args = ["bench", "datasets", "--quick", "--json", "--samples", "12", "--resolution", "8", "--cache", "warm",
            "--compression", "gzip", "--compression", "none", "--compression", "blosc-lz4"]
    assert cli_main(args) == 0
    result = json.loads(capsys.readouterr().out)
    try:
        import hdf5plugin  # noqa: F401

        codecs = ["gzip", "none", "blosc-lz4"]
        assert result["skipped"] == {}
    except ImportError:
        codecs = ["gzip", "none"]
        assert "fast-io" in result["skipped"]["blosc-lz4"]
    assert [row["compression"] for row in result["results"]] == codecs
    for row in result["results"]:
        for key in ("name", "ours_s", "anchor", "anchor_s", "ratio", "error_ours", "error_anchor",
                    "speedup_vs_naive", "fraction_of_raw", "raw_s", "page_cache", "decode_cpu_s", "decode_bound_s",
                    "fraction_of_decode_bound", "size_bytes", "size_vs_gzip"):
            assert key in row
        assert row["anchor"] == "naive h5py" and row["error_ours"] == 0.0 and row["page_cache"] == "warm"
        assert row["ratio"] == pytest.approx(row["anchor_s"] / row["ours_s"])
        assert row["fraction_of_raw"] == pytest.approx(row["raw_s"] / row["ours_s"])
        assert row["decode_bound_s"] == pytest.approx(row["decode_cpu_s"] / result["cores"])
        assert row["fraction_of_decode_bound"] == pytest.approx(row["decode_bound_s"] / row["ours_s"])
    sizes = {f["compression"].split("+")[0]: f["size_bytes"] for f in result["files"]}
    for row in result["results"]:
        assert row["size_vs_gzip"] == pytest.approx(sizes[row["compression"]] / sizes["gzip"])
    assert result["file"]["num_samples"] == 12 and result["file"]["compression"] == "gzip+shuffle"
    assert "posix_fadvise" in result["cold_cache_method"]


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["heat1d", "heat2d", "burgers1d", "ns-fno", "ns-kolmogorov"])
def test_every_recipe_generates_finite_data(recipe, tmp_path):
    info = generate(recipe, 2, 16, tmp_path / f"{recipe}.h5", progress=False, t_final=2.0, dt_save=1.0)
    assert info.num_samples == 2 and info.sample_shape[0] == 3
    with open_dataset(tmp_path / f"{recipe}.h5") as ds:
        data = ds[:]
    assert np.all(np.isfinite(data)) and np.abs(data).max() > 1e-3
    assert not np.array_equal(data[0], data[1])
