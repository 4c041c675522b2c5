"""Benchmarks: pdesolve side by side with anchors (``pdesolve bench``).

Every ``run_*_benchmark`` returns ``{"results": [...]}`` with the keys ``name, ours_s, anchor,
anchor_s, ratio, error_ours, error_anchor`` (``ratio = anchor_s / ours_s``), and each has a
``format_*_table`` for the text output.

Every result JSON written by a benchmark or an experiment records its provenance
(:func:`provenance`: command, seed, commit, version, date); :func:`write_result_json` writes one,
and :func:`best_time` is the timing rule the benchmarks share (best of repeats after a warm-up).
"""

from ._adjoint import format_adjoint_table as format_adjoint_table
from ._adjoint import run_adjoint_benchmark as run_adjoint_benchmark
from ._datasets import format_datasets_table as format_datasets_table
from ._datasets import run_datasets_benchmark as run_datasets_benchmark
from ._implicit import format_implicit_table as format_implicit_table
from ._implicit import run_implicit_benchmark as run_implicit_benchmark
from ._optim import format_optim_table as format_optim_table
from ._provenance import git_commit as git_commit
from ._provenance import provenance as provenance
from ._provenance import write_result_json as write_result_json
from ._optim import run_optim_benchmark as run_optim_benchmark
from ._reference import run_reference_benchmark as run_reference_benchmark
from ._scaling import format_scaling_table as format_scaling_table
from ._scaling import run_scaling_benchmark as run_scaling_benchmark
from ._table import format_table as format_table
from ._timing import best_time as best_time
from ._training import format_training_table as format_training_table
from ._training import run_training_benchmark as run_training_benchmark

__all__ = [
    "best_time",
    "format_adjoint_table",
    "format_datasets_table",
    "format_implicit_table",
    "format_optim_table",
    "format_scaling_table",
    "format_table",
    "format_training_table",
    "git_commit",
    "provenance",
    "run_adjoint_benchmark",
    "run_datasets_benchmark",
    "run_implicit_benchmark",
    "run_optim_benchmark",
    "run_reference_benchmark",
    "run_scaling_benchmark",
    "run_training_benchmark",
    "write_result_json",
]
