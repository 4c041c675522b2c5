"""Benchmarks: pdesolve's solvers side by side with anchors (``pdesolve bench``)."""

from ._reference import run_reference_benchmark as run_reference_benchmark
from ._table import format_table as format_table

from ._optim import format_optim_table as format_optim_table
from ._optim import run_optim_benchmark as run_optim_benchmark

__all__ = ["format_optim_table", "format_table", "run_optim_benchmark", "run_reference_benchmark"]
