r"""HDF5 datasets: generate them with the reference solvers, validate them, stream them.

- :func:`generate` solves samples of a recipe (:data:`RECIPES`: ``heat1d``, ``heat2d``,
  ``burgers1d``, ``ns-fno``, ``ns-kolmogorov``) in vmapped batches and writes a
  ``pdesolve-v1`` file atomically (``<out>.tmp`` renamed when complete); ``resume=True``
  continues an interrupted run bit for bit.
- :func:`validate_file` checks a ``pdesolve-v1`` file and returns its :class:`LayoutInfo`;
  every problem is a one-line :class:`~pdesolve.DatasetError`.
- :func:`open_dataset` reads pdesolve files and both PDEBench layouts (a root ``tensor``, or
  one group per seed with ``data`` and ``grid/{x,y,t}``) as an :class:`H5Dataset` whose
  samples are ``[t, *space, channel]`` numpy arrays, without loading the file.
- :class:`DataLoader` streams shuffled, prefetched batches of one split
  (:func:`split_indices`), optionally as ``(inputs, targets)`` time windows.
- :func:`generate_combined_dataset` writes the combined-equation data of the MP-PDE paper
  (experiments E1-E3, the registry's :class:`~pdesolve.problems.CombinedRecipe` s
  ``combined-e1/2/3``) at several resolutions from one fine solve (coarse grids by an
  :class:`AbstractDownsampling`: :class:`PointSubsampling`, or :class:`NeighbourAverage` as the
  paper's authors do), with the per-sample PDE parameters; :func:`load_combined_dataset` reads such a file as :class:`CombinedData`, and
  :func:`solve_combined_batch` solves a batch of its samples again (e.g. on a coarse grid).

The file layout (PDEBench-compatible, channel last)::

    tensor         float32 [sample, t, x(, y), channel]  chunks (1, 1, x(, y), channel), gzip+shuffle
                   (or lzf, blosc-lz4, blosc-zstd, none: :data:`COMPRESSIONS`)
    t-coordinate   float64 [t]
    x-coordinate   float64 [x]        (y-coordinate [y] in 2D)
    seeds          int64   [sample]   sample i was generated from seeds[i] = seed + i
    attributes     nu, drag, ..., config (JSON recipe), axes, pdesolve_version, layout, num_complete
"""

from ._combined import AbstractDownsampling as AbstractDownsampling
from ._combined import CombinedData as CombinedData
from ._combined import NeighbourAverage as NeighbourAverage
from ._combined import PointSubsampling as PointSubsampling
from ._combined import default_steps_per_save as default_steps_per_save
from ._combined import generate_combined_dataset as generate_combined_dataset
from ._combined import load_combined_dataset as load_combined_dataset
from ._combined import solve_combined_batch as solve_combined_batch
from ._compression import COMPRESSIONS as COMPRESSIONS
from ._generate import generate as generate
from ._generate import regenerate_samples as regenerate_samples
from ._generate import solve_samples as solve_samples
from ._generate import spectral_truncate as spectral_truncate
from ._layout import LAYOUT as LAYOUT
from ._layout import SEEDS as SEEDS
from ._layout import TENSOR as TENSOR
from ._layout import LayoutInfo as LayoutInfo
from ._layout import create_file as create_file
from ._layout import validate_file as validate_file
from ._layout import write_samples as write_samples
from ._loader import DataLoader as DataLoader
from ._loader import check_shard as check_shard
from ._loader import shard_rows as shard_rows
from ._loader import split_indices as split_indices
from ._pdebench import H5Dataset as H5Dataset
from ._pdebench import describe_file as describe_file
from ._pdebench import open_dataset as open_dataset
from ._recipes import RECIPES as RECIPES
from ._recipes import Recipe as Recipe
from ._recipes import get_recipe as get_recipe
from ._recipes import resolve_config as resolve_config

__all__ = [
    "AbstractDownsampling",
    "COMPRESSIONS",
    "CombinedData",
    "DataLoader",
    "H5Dataset",
    "LAYOUT",
    "LayoutInfo",
    "NeighbourAverage",
    "PointSubsampling",
    "RECIPES",
    "Recipe",
    "SEEDS",
    "TENSOR",
    "check_shard",
    "create_file",
    "default_steps_per_save",
    "describe_file",
    "generate",
    "generate_combined_dataset",
    "get_recipe",
    "load_combined_dataset",
    "open_dataset",
    "regenerate_samples",
    "resolve_config",
    "shard_rows",
    "solve_combined_batch",
    "solve_samples",
    "spectral_truncate",
    "split_indices",
    "validate_file",
    "write_samples",
]
