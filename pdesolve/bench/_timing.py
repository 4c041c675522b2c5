"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable

import jax


def best_time(fn, arg, repeats: int):
    """Best wall time of ``fn(arg)`` over `repeats` runs after one warm-up (compilation) call.

    Returns ``(seconds, output of the last run)``; every call is waited on with
    ``jax.block_until_ready``.
    """
    jax.block_until_ready(fn(arg))
    best = float("inf")
    out = None
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(fn(arg))
        best = min(best, time.perf_counter() - start)
    return best, out


def time_interleaved(calls: dict[str, Callable[[], object]], repeats: int, min_total_s: float = 0.5,
                     max_rounds: int = 50, cpu_times: dict | None = None):
    """Compile/warm up every call, then time them in interleaved rounds; keep each one's best.

    At least `repeats` rounds; cheap calls (a round under `min_total_s` / `repeats`) get more
    rounds, up to `max_rounds`, so that millisecond timings are not one noisy sample. The order
    of the calls alternates between rounds. Every output is waited on with
    ``jax.block_until_ready`` (a no-op for values that are not JAX arrays, e.g. PyTorch CPU
    tensors, whose operations have finished when they return). Returns
    ``({name: best_seconds}, {name: warm-up output}, rounds)``; a `cpu_times` dict is filled with
    each call's best process CPU time (``time.process_time``: all threads, waiting excluded).
    """
    outputs = {name: jax.block_until_ready(call()) for name, call in calls.items()}
    best = {name: math.inf for name in calls}
    cpu = {name: math.inf for name in calls}
    names = list(calls)
    rounds = max(1, int(repeats))
    done = 0
    while done < rounds:
        order = names if done % 2 == 0 else names[::-1]
        for name in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            jax.block_until_ready(calls[name]())
            best[name] = min(best[name], time.perf_counter() - start)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)
        done += 1
        if done == 1:
            round_s = sum(best.values())
            rounds = max(rounds, min(max_rounds, math.ceil(min_total_s / max(round_s, 1e-9))))
    if cpu_times is not None:
        cpu_times.update(cpu)
    return best, outputs, rounds


def ratio(anchor_s, ours_s):
    """``anchor_s / ours_s`` (above 1: pdesolve is faster), or ``None`` when either is missing."""
    if anchor_s is None or ours_s is None or ours_s <= 0:
        return None
    return float(anchor_s) / float(ours_s)


def device_description() -> str:
    """The JAX device the benchmark runs on, e.g. ``cpu: cpu (2 cores, x86_64)``."""
    device = jax.devices()[0]
    kind = getattr(device, "device_kind", device.platform)
    text = f"{device.platform}: {kind}"
    if device.platform == "cpu":
        processor = platform.processor() or platform.machine()
        text += f" ({os.cpu_count()} cores, {processor})"
    return text


def make_progress(progress, label: str = "bench reference") -> Callable[[str], None]:
    """A progress reporter: ``None``/``False`` (silent), ``True`` (``[label] message`` lines on
    stderr) or a callable taking a string."""
    if progress is None or progress is False:
        return lambda message: None
    if progress is True:
        import sys

        def report(message: str) -> None:
            print(f"[{label}] {message}", file=sys.stderr, flush=True)

        return report
    if callable(progress):
        return progress
    raise TypeError(f"progress must be None, a bool or a callable taking a string, got {progress!r}")
