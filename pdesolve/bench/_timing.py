"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import time

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
