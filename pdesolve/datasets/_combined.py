r"""Datasets of the combined equation (E1/E2/E3 of Brandstetter et al. 2022) as ``pdesolve-v1`` HDF5.

The set-ups are the registry's :class:`~pdesolve.problems.CombinedRecipe` s (``combined-e1``,
``combined-e2``, ``combined-e3``). :func:`generate_combined_dataset` draws sample ``i`` from
seed ``seed + i`` (:func:`~pdesolve.pdes.sample_combined_parameters`), solves it on the fine
grid (the recipe's ``solve_resolution = 200``, WENO5 flux + ETDRK4,
:class:`~pdesolve.integrators.ForcedETDRK4`) and writes one file per output resolution through
:func:`~pdesolve.datasets.create_file` / :func:`~pdesolve.datasets.write_samples`. How a coarse
grid (``nx`` dividing the fine resolution) is made from the fine one is an
:class:`AbstractDownsampling`: :class:`PointSubsampling` (the default: the fine grid's points
taken every ``solve_resolution / nx``; point values, as the WENO scheme works on point values
and a shock is not smeared by resampling) or :class:`NeighbourAverage` (the paper authors'
projection: the mean of 5 neighbouring fine points around each of those points).

Besides the ``pdesolve-v1`` datasets each file holds the per-sample PDE parameters
``alpha``, ``beta``, ``gamma`` ``[sample]`` and the forcing ``amplitudes``, ``frequencies``,
``phases``, ``wavenumbers`` ``[sample, 5]``. :func:`load_combined_dataset` reads a file back
and checks it.
"""

from __future__ import annotations

import abc
import functools
import math
import os
import time
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._compat import enable_x64
from .._errors import DatasetError, InvalidInputError, NonFiniteError
from ..integrators import ForcedETDRK4, solve_at_times
from ..pdes import COMBINED_EXTENT, CombinedEquation, CombinedForcing, sample_combined_parameters
from ..problems import combined_recipe
from ..spatial import PeriodicGrid
from ._generate import TMP_SUFFIX, _fsync
from ._layout import create_file, open_h5, validate_file, write_samples

PARAMETER_NAMES = ("alpha", "beta", "gamma")
FORCING_NAMES = ("amplitudes", "frequencies", "phases", "wavenumbers")


class AbstractDownsampling(eqx.Module):
    """How trajectories on a fine periodic grid become trajectories on a coarser one.

    Called as ``downsampling(u, resolution)`` with `u` ``[..., n]`` (space last, periodic) and
    `resolution` dividing ``n``; returns ``[..., resolution]`` at the points ``x_j = j L /
    resolution`` (the fine points ``j n / resolution``).
    """

    @abc.abstractmethod
    def __call__(self, u: np.ndarray, resolution: int) -> np.ndarray:
        """`u` ``[..., n]`` on the coarse grid ``[..., resolution]``."""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line for the files' config."""


class PointSubsampling(AbstractDownsampling):
    r"""Point values: $\bar u_j = u_{j r}$ with $r = n / R$ (every $r$-th fine point)."""

    def __call__(self, u: np.ndarray, resolution: int) -> np.ndarray:
        return u[..., :: u.shape[-1] // resolution]

    def describe(self) -> str:
        return "point subsampling"


class NeighbourAverage(AbstractDownsampling):
    r"""The mean of `width` neighbouring fine points centred on every $r$-th one (periodic):
    $\bar u_j = \frac{1}{w} \sum_{k=-(w-1)/2}^{(w-1)/2} u_{(j r + k) \bmod n}$, $r = n / R$.

    Brandstetter, Worrall & Welling (ICLR 2022) project their $n_x = 200$ solutions so, with
    $w = 5$ at every coarse resolution (at $n_x = 40$, $r = 5$: the cell average).

    **Arguments:** `width`: an odd number of fine points (default 5).
    """

    width: int = eqx.field(default=5, static=True)

    def __check_init__(self):
        if isinstance(self.width, bool) or int(self.width) != self.width or self.width < 1 or self.width % 2 == 0:
            raise InvalidInputError(f"width must be a positive odd integer, got {self.width!r}")

    def __call__(self, u: np.ndarray, resolution: int) -> np.ndarray:
        u = np.asarray(u)
        centres = np.arange(resolution) * (u.shape[-1] // resolution)
        offsets = np.arange(self.width) - self.width // 2
        return np.mean(u[..., (centres[:, None] + offsets) % u.shape[-1]], axis=-1)

    def describe(self) -> str:
        return f"mean of {self.width} neighbouring fine points"


def default_steps_per_save(experiment: str, resolution: int, dt_save: float, cfl: float | None = None) -> int:
    r"""Solver steps per saved frame so that $\alpha_{max} u_{max} \Delta t / \Delta x \le$ `cfl`.

    **Arguments:**

    - `experiment`: ``"E1"``, ``"E2"``, ``"E3"`` or the recipe name (``"combined-e1"``, ...);
      its :class:`~pdesolve.problems.CombinedRecipe` gives $\alpha_{max}$ and $u_{max}$ (3.5 for
      E1/E2 and 5 for E3, above the largest $|u|$ seen in samples).
    - `resolution`: grid points on $[0, 16)$; `dt_save`: time between saved frames.
    - `cfl`: the bound (default: the recipe's, 0.4).
    """
    recipe = combined_recipe(experiment)
    cfl = recipe.cfl if cfl is None else cfl
    dx = recipe.extent / resolution
    return max(1, math.ceil(dt_save * recipe.max_alpha * recipe.u_bound / (cfl * dx) - 1e-9))


def build_combined_pde(params: dict, resolution: int, flux: str = "weno5", dtype=jnp.float64) -> CombinedEquation:
    """The :class:`~pdesolve.pdes.CombinedEquation` of one sample's parameter dict on an `resolution`-point grid."""
    grid = PeriodicGrid(int(resolution), extent=COMBINED_EXTENT, dtype=dtype)
    forcing = CombinedForcing(params["amplitudes"], params["frequencies"], params["phases"], params["wavenumbers"])
    return CombinedEquation(grid, params["alpha"], params["beta"], params["gamma"], forcing, flux=flux)


def _stack_params(param_list):
    return {key: np.stack([p[key] for p in param_list]) for key in PARAMETER_NAMES + FORCING_NAMES}


@functools.lru_cache(maxsize=32)
def _batched_solver(resolution: int, times: tuple, steps_per_save: int, flux: str, with_u0: bool):
    """A jitted, vmapped solver for one grid and time grid (cached, so timings exclude compilation)."""
    times = np.asarray(times)

    def one(p, u_start):
        pde = build_combined_pde(p, resolution, flux)
        start = pde.forcing_field(times[0]) if u_start is None else u_start[None]
        stepper = ForcedETDRK4(pde, float(times[1] - times[0]) / steps_per_save)
        return solve_at_times(stepper, start, times, steps_per_save)[:, 0]

    if with_u0:
        return jax.jit(jax.vmap(one))
    return jax.jit(jax.vmap(lambda q: one(q, None)))


def solve_combined_batch(
    params: dict, resolution: int, times, steps_per_save: int, u0=None, flux: str = "weno5"
) -> np.ndarray:
    r"""Solve a batch of samples of the combined equation on one grid.

    **Arguments:**

    - `params`: stacked per-sample parameters (leading axis = sample), as
      :meth:`CombinedData.parameter_dicts` returns them.
    - `resolution`: grid points on $[0, 16)$; `times`: the uniformly spaced saved times.
    - `steps_per_save`: solver steps per saved frame (see :func:`default_steps_per_save`).
    - `u0`: ``[sample, n]`` start fields (default: $\delta(t_0, x)$).
    - `flux`: ``"weno5"`` or ``"spectral"``.

    Returns ``[sample, nt, n]`` float64; raises :class:`~pdesolve.NonFiniteError` (at the first
    saved frame with NaN/Inf) if a solution blows up.
    """
    times = np.asarray(times, dtype=np.float64)
    solver = _batched_solver(int(resolution), tuple(times.tolist()), int(steps_per_save), flux, u0 is not None)
    with enable_x64(True):
        p = {k: jnp.asarray(v) for k, v in params.items()}
        out = solver(p) if u0 is None else solver(p, jnp.asarray(u0, dtype=jnp.float64))
        out = np.asarray(out)
    _check_finite(out, times, steps_per_save)
    return out


def _check_finite(frames: np.ndarray, times: np.ndarray, steps_per_save: int) -> None:
    """Raise :class:`~pdesolve.NonFiniteError` at the first saved frame of `frames` ``[sample, t, ...]`` with NaN/Inf."""
    finite = np.all(np.isfinite(frames.reshape(frames.shape[0], frames.shape[1], -1)), axis=(0, 2))
    if not np.all(finite):
        frame = int(np.argmin(finite))
        raise NonFiniteError(frame * int(steps_per_save), float(times[frame]))


@dataclass(frozen=True)
class CombinedData:
    """One combined-equation file in memory.

    `u` ``[sample, t, x]`` float32; `params` ``[sample, 3]`` = (alpha, beta, gamma);
    `x` ``[x]``, `t` ``[t]``; `experiment`; `forcing`: dict of ``[sample, 5]`` arrays; `seeds`.
    """

    u: np.ndarray
    params: np.ndarray
    x: np.ndarray
    t: np.ndarray
    experiment: str
    forcing: dict
    seeds: np.ndarray

    @property
    def resolution(self) -> int:
        """Number of grid points."""
        return self.u.shape[-1]

    def parameter_dicts(self) -> dict:
        """Stacked per-sample parameters in the form :func:`solve_combined_batch` takes."""
        out = {name: self.params[:, i].astype(np.float64) for i, name in enumerate(PARAMETER_NAMES)}
        out.update(self.forcing)
        return out


def generate_combined_dataset(
    out_dir: str,
    experiment: str,
    num_samples: int,
    *,
    split: str = "train",
    seed: int = 0,
    resolutions=None,
    solve_resolution: int | None = None,
    num_times: int | None = None,
    steps_per_save: int | None = None,
    batch_size: int = 64,
    progress: bool = False,
    downsampling: AbstractDownsampling | None = None,
) -> dict:
    r"""Generate `num_samples` combined-equation trajectories and write one HDF5 file per resolution.

    **Arguments:**

    - `out_dir`: the folder of the files ``<experiment>_<split>_nx<R>.h5`` (``pdesolve-v1``
      layout, plus the parameter datasets of the module docstring).
    - `experiment`: ``"E1"``, ``"E2"``, ``"E3"`` or the recipe name (``"combined-e1"``, ...);
      the :class:`~pdesolve.problems.CombinedRecipe` gives every default below.
    - `num_samples`: trajectories; sample ``i`` uses seed ``seed + i`` (pick disjoint seed
      ranges for train/valid/test); `split`: the name in the file names.
    - `resolutions`: output grids, each dividing `solve_resolution` (default ``(100, 50, 40)``).
    - `solve_resolution`: the solver grid (default 200).
    - `num_times`: saved frames on ``[0, t_final]`` (default 250).
    - `steps_per_save`: solver steps per frame (default :func:`default_steps_per_save`).
    - `batch_size`: samples solved together (the last batch is padded to this size).
    - `progress`: print a line per batch.
    - `downsampling`: an :class:`AbstractDownsampling` (default :class:`PointSubsampling`;
      :class:`NeighbourAverage` is the paper authors' projection), recorded in the files' config.

    Each file is written to ``<file>.tmp`` and renamed when complete; if generation fails (e.g.
    :class:`~pdesolve.NonFiniteError` when a solution, or its float32 copy, is not finite), the
    temporary files are removed. Returns ``{resolution: path}`` and ``"seconds"`` (the solve time).
    """
    recipe = combined_recipe(experiment)
    experiment = recipe.experiment
    downsampling = PointSubsampling() if downsampling is None else downsampling
    if not isinstance(downsampling, AbstractDownsampling):
        raise InvalidInputError(f"downsampling must be an AbstractDownsampling, got {type(downsampling).__name__}")
    if isinstance(num_samples, bool) or int(num_samples) != num_samples or num_samples < 1:
        raise InvalidInputError(f"num_samples must be a positive integer, got {num_samples!r}")
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    batch_size = int(batch_size)
    solve_resolution = recipe.solve_resolution if solve_resolution is None else int(solve_resolution)
    resolutions = tuple(int(r) for r in (recipe.resolutions if resolutions is None else resolutions))
    for r in resolutions:
        if r < 8 or solve_resolution % r:
            raise InvalidInputError(
                f"resolution {r} must be at least 8 and divide the solver resolution {solve_resolution}"
            )
    times = recipe.times(num_times)
    num_times = len(times)
    if steps_per_save is None:
        steps_per_save = default_steps_per_save(experiment, solve_resolution, float(times[1] - times[0]))
    os.makedirs(out_dir, exist_ok=True)
    config = {
        "recipe": "combined-equation",
        "experiment": experiment,
        "split": split,
        "num_samples": int(num_samples),
        "seed": int(seed),
        "seeds": "seed + sample index",
        "solve_resolution": int(solve_resolution),
        "solver": f"{recipe.flux.upper()} flux + non-autonomous ETDRK4 (linear part exact)",
        "steps_per_save": int(steps_per_save),
        "downsampling": downsampling.describe(),
        "extent": recipe.extent,
        "t_final": float(times[-1]),
        "num_times": int(num_times),
    }
    paths = {r: os.path.join(out_dir, f"{experiment}_{split}_nx{r}.h5") for r in resolutions}
    try:
        for r, path in paths.items():
            create_file(
                path + TMP_SUFFIX, num_samples=num_samples, times=times, coordinates=[np.arange(r) * recipe.extent / r],
                num_channels=1, config={**config, "resolution": r},
                attrs={"experiment": experiment, "extent": recipe.extent, "resolution": r, "pde": "combined"},
                compression="lzf",
            )
        with enable_x64(True):
            all_params = [sample_combined_parameters(jax.random.PRNGKey(seed + i), experiment)
                          for i in range(num_samples)]
        stacked = _stack_params(all_params)
        seeds = seed + np.arange(num_samples, dtype=np.int64)
        start_time = time.perf_counter()
        for start in range(0, num_samples, batch_size):
            stop = min(start + batch_size, num_samples)
            batch = {k: v[start:stop] for k, v in stacked.items()}
            if stop - start < batch_size and start > 0:  # pad to reuse the compiled batch shape
                pad = batch_size - (stop - start)
                batch = {k: np.concatenate([v, np.repeat(v[-1:], pad, axis=0)]) for k, v in batch.items()}
            fine = solve_combined_batch(batch, solve_resolution, times, steps_per_save, flux=recipe.flux)[: stop - start]
            with np.errstate(over="ignore"):  # the files hold float32: an overflow there is an error below
                _check_finite(fine.astype(np.float32), times, steps_per_save)
            for r, path in paths.items():
                write_samples(path + TMP_SUFFIX, start, downsampling(fine, r)[..., None], seeds[start:stop])
            if progress:
                print(f"  {experiment} {split}: {stop}/{num_samples} samples", flush=True)
        seconds = time.perf_counter() - start_time
        for path in paths.values():
            with open_h5(path + TMP_SUFFIX, "r+") as f:
                for name in PARAMETER_NAMES + FORCING_NAMES:
                    f.create_dataset(name, data=stacked[name])
            _fsync(path + TMP_SUFFIX)
    except BaseException:
        for path in paths.values():
            if os.path.exists(path + TMP_SUFFIX):
                os.remove(path + TMP_SUFFIX)
        raise
    for path in paths.values():
        os.replace(path + TMP_SUFFIX, path)
    return {**paths, "seconds": seconds}


def load_combined_dataset(path: str, *, resolution: int | None = None) -> CombinedData:
    """Read a file written by :func:`generate_combined_dataset` (validated; one-line errors).

    `resolution`: if given, the file must have that many grid points
    (:class:`~pdesolve.DatasetError` otherwise). Raises :class:`~pdesolve.DatasetError` for a
    missing or corrupt file, a file that is not a combined-equation dataset, or one that holds NaN/Inf.
    """
    info = validate_file(path)
    if info.ndim != 1 or info.num_channels != 1:
        raise DatasetError(f"{path}: expected a 1D single-channel dataset, got sample shape {info.sample_shape}")
    if resolution is not None and info.spatial_shape[0] != int(resolution):
        raise DatasetError(f"{path}: has nx = {info.spatial_shape[0]} but nx = {resolution} was requested")
    with open_h5(path) as f:
        missing = [n for n in PARAMETER_NAMES + FORCING_NAMES if n not in f]
        if missing:
            raise DatasetError(f"{path}: not a combined-equation dataset (missing {missing[0]!r})")
        u = np.asarray(f["tensor"][..., 0], dtype=np.float32)
        params = np.stack([np.asarray(f[n], dtype=np.float64) for n in PARAMETER_NAMES], axis=1)
        forcing = {n: np.asarray(f[n]) for n in FORCING_NAMES}
        x = np.asarray(f["x-coordinate"])
        t = np.asarray(f["t-coordinate"])
        seeds = np.asarray(f["seeds"])
    if not np.all(np.isfinite(u)):
        raise DatasetError(f"{path}: 'tensor' contains NaN/Inf")
    return CombinedData(
        u=u, params=params, x=x, t=t, experiment=str(info.attrs.get("experiment", "")),
        forcing=forcing, seeds=seeds,
    )
