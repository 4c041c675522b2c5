"""``pdesolve bench scaling``: dataset-generation throughput with 1 vs P cooperating processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from .._errors import InvalidInputError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _generate_command(recipe, n, resolution, out, extra=()):
    return [sys.executable, "-m", "pdesolve", "generate", recipe, "--n", str(n), "--resolution",
            str(resolution), "--out", out, "--no-progress", "--overwrite", *extra]


def _timed(commands, env) -> float:
    start = time.perf_counter()
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for c in commands]
    errors = [p.communicate()[1] for p in procs]
    seconds = time.perf_counter() - start
    for proc, err in zip(procs, errors):
        if proc.returncode != 0:
            raise RuntimeError(f"generation process failed (exit {proc.returncode}): {err.strip()[-500:]}")
    return seconds


def run_scaling_benchmark(
    *,
    recipe: str = "heat2d",
    num_samples: int = 64,
    resolution: int = 64,
    processes: int = 2,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Time ``pdesolve generate`` of the same samples by 1 process and by ``processes`` processes.

    Both runs start fresh Python processes (so both pay JAX start-up and compilation), on this
    machine, in one call. The multi-process run uses ``jax.distributed`` on the loopback
    address, each process writing its own shard and process 0 linking them into a virtual
    dataset. The result row follows the ``--json`` convention: ``ours_s`` is the P-process wall
    time, the anchor is the single process, ``ratio = anchor_s / ours_s`` is the speed-up, and
    ``samples_per_s_*`` give throughputs. ``error_ours`` is the largest difference between the
    two files' samples (0 when the sharded run reproduces the single one bit for bit).
    """
    import h5py
    import numpy as np

    if quick:
        num_samples, resolution = 4, 16
    for name, value in (("processes", processes), ("num_samples", num_samples), ("resolution", resolution)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    env.pop("XLA_FLAGS", None)
    say = progress or (lambda msg: None)
    with tempfile.TemporaryDirectory(prefix="pdesolve-scaling-") as folder:
        single = os.path.join(folder, "single.h5")
        multi = os.path.join(folder, "multi.h5")
        say(f"1 process: {num_samples} samples of {recipe} at {resolution}")
        anchor_s = _timed([_generate_command(recipe, num_samples, resolution, single)], env)
        say(f"{processes} processes")
        port = _free_port()
        commands = [
            _generate_command(recipe, num_samples, resolution, multi, (
                "--distributed", "--coordinator", f"127.0.0.1:{port}",
                "--num-processes", str(processes), "--process-id", str(k)))
            for k in range(processes)
        ]
        ours_s = _timed(commands, env)
        with h5py.File(single) as a, h5py.File(multi) as b:
            error = float(np.max(np.abs(a["tensor"][()] - b["tensor"][()])))
    return {
        "results": [{
            "name": f"generate/{recipe}/n{num_samples}/{resolution}/{processes}proc",
            "ours_s": ours_s,
            "anchor": "1 process",
            "anchor_s": anchor_s,
            "ratio": anchor_s / ours_s,
            "error_ours": error,
            "error_anchor": 0.0,
            "processes": processes,
            "samples_per_s_ours": num_samples / ours_s,
            "samples_per_s_anchor": num_samples / anchor_s,
            "cpu_count": os.cpu_count(),
        }],
    }


def format_scaling_table(result: dict) -> str:
    """A text table of :func:`run_scaling_benchmark`'s result."""
    lines = ["name                                   procs  1-proc s  P-proc s  speed-up  max |diff|"]
    for r in result["results"]:
        lines.append(f"{r['name']:<38} {r['processes']:>5} {r['anchor_s']:>9.2f} {r['ours_s']:>9.2f} "
                     f"{r['ratio']:>9.2f} {r['error_ours']:>11.2e}")
    lines.append("speed-up = 1-process wall time / P-process wall time (both include start-up and compilation)")
    return "\n".join(lines)
