"""Multi-process runs on JAX's distributed runtime: 2 local processes on the loopback address."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import h5py
import numpy as np
import pytest

from pdesolve import DatasetError, InvalidInputError
from pdesolve.datasets import open_dataset, validate_file
from pdesolve.distributed import link_shards, shard_path, shard_range


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env():
    """This process's environment (so the same XLA flags as the in-process reference, for bitwise
    equality) without a forced host device count: each process has one CPU device."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = re.sub(r"--xla_force_host_platform_device_count=\S+", "", env.get("XLA_FLAGS", "")).strip()
    return env


def _cli(*args):
    return [sys.executable, "-m", "pdesolve", *args]


def test_shard_range_partitions_exactly():
    for n in (0, 1, 5, 7, 64):
        for p in (1, 2, 3, 4):
            blocks = [shard_range(n, k, p) for k in range(p)]
            assert [i for b in blocks for i in b] == list(range(n))
            assert max(map(len, blocks)) - min(map(len, blocks)) <= 1
    with pytest.raises(InvalidInputError):
        shard_range(4, 2, 2)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dist")
    common = ["heat1d", "--n", "5", "--resolution", "32", "--no-progress"]
    port = _free_port()
    procs = [
        subprocess.Popen(
            _cli("generate", *common, "--out", str(folder / "multi.h5"), "--distributed",
                 "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(k)),
            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for k in (0, 1)
    ]
    from pdesolve.cli._main import main

    # The single-process reference: the same command in this process (one JAX start less), while the two start.
    assert main(["generate", *common, "--out", str(folder / "single.h5")]) == 0
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
    return folder


def test_two_process_generation_equals_single_process(generated):
    single, multi = generated / "single.h5", generated / "multi.h5"
    info = validate_file(multi)
    assert info.num_samples == 5 and info.complete
    with h5py.File(single) as a, h5py.File(multi) as b:
        assert b["tensor"].is_virtual and len(b["tensor"].virtual_sources()) == 2
        np.testing.assert_array_equal(a["seeds"][:], b["seeds"][:])
        np.testing.assert_array_equal(a["tensor"][:], b["tensor"][:])  # bit for bit
    with open_dataset(multi) as data:  # the loader reads the virtual file like any other
        np.testing.assert_array_equal(data.read_batch([4, 0]), h5py.File(single)["tensor"][()][[4, 0]])


def test_link_refuses_missing_or_mismatched_shards(generated, tmp_path):
    shards = [shard_path(generated / "multi.h5", k, 2) for k in range(2)]
    with pytest.raises(DatasetError, match="no shard"):
        link_shards([], tmp_path / "x.h5")
    # A shard of another recipe cannot join.
    from pdesolve.datasets import generate

    other = tmp_path / "other.h5"
    generate("heat1d", 2, 16, other, progress=False)
    with pytest.raises(DatasetError):
        link_shards([shards[0], str(other)], tmp_path / "y.h5")
    # A linked file whose shard disappears is reported, naming the shard.
    copy = tmp_path / "linked.h5"
    local = [tmp_path / os.path.basename(s) for s in shards]
    for src, dst in zip(shards, local):
        dst.write_bytes(open(src, "rb").read())
    link_shards([str(p) for p in local], copy)
    validate_file(copy)
    local[1].unlink()
    with pytest.raises(DatasetError, match="missing shard"):
        validate_file(copy)


@pytest.mark.slow
def test_bench_scaling_quick_keys():
    from pdesolve.bench import format_scaling_table, run_scaling_benchmark

    result = run_scaling_benchmark(quick=True)
    (row,) = result["results"]
    assert {"name", "ours_s", "anchor", "anchor_s", "ratio", "error_ours", "error_anchor"} <= set(row)
    assert row["error_ours"] == 0.0 and row["processes"] == 2
    assert "speed-up" in format_scaling_table(result)


def test_two_process_data_parallel_training_step_equals_single_process(tmp_path):
    from pdesolve.datasets import generate

    data = tmp_path / "heat1d.h5"
    generate("heat1d", 20, 16, data, progress=False)  # 16 training samples: 2 global batches of 8
    worker = os.path.join(os.path.dirname(__file__), "_distributed_train_worker.py")
    port = str(_free_port())
    procs = [subprocess.Popen([sys.executable, worker, str(tmp_path / "multi.eqx"), str(data), port, str(k)],
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in (0, 1)]
    # The single-process reference runs here while the two workers start.
    import equinox as eqx
    import jax
    from _distributed_train_worker import tiny_fno, train_tiny_fno

    single, samples = train_tiny_fno(str(data), devices=1)
    assert (single.step, samples) == (2, 16)
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        assert out.split()[-3:] == ["2", "read", "8"], out  # 2 steps, reading only its half of every batch

    like = tiny_fno()
    flat = [np.concatenate([np.ravel(x) for x in jax.tree.leaves(eqx.filter(t, eqx.is_inexact_array))])
            for t in (single.model, eqx.tree_deserialise_leaves(tmp_path / "multi.eqx", like))]
    initial = np.concatenate([np.ravel(x) for x in jax.tree.leaves(eqx.filter(like, eqx.is_inexact_array))])
    assert np.max(np.abs(flat[0] - initial)) > 1e-3  # training moved the parameters
    # Measured 5.6e-17: only the order of the cross-process gradient sum differs.
    np.testing.assert_allclose(flat[1], flat[0], rtol=0, atol=1e-13)
