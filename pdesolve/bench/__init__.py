"""Benchmarks: pdesolve's solvers side by side with anchors (``pdesolve bench``)."""

from ._reference import run_reference_benchmark as run_reference_benchmark
from ._table import format_table as format_table

__all__ = ["format_table", "run_reference_benchmark"]
