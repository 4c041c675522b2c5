"""Generate ``pdesolve-v1`` dataset files from recipes: batched solves, atomic writes, resume.

:func:`generate` solves samples in vmapped batches (:func:`~pdesolve.integrators.rollout_batch`
over initial conditions drawn from seeds ``seed + i``) and appends them to ``<out>.tmp``;
``num_complete`` is raised after each batch is flushed, and the finished file is moved onto
``out`` with :func:`os.replace`, so ``out`` only ever exists complete. An interrupted run is
continued with ``resume=True``: the temporary file's config must match the request, and the
remaining batches are the same batches an uninterrupted run would solve, so the result is
identical bit for bit.

Everything is computed inside a scoped ``jax.enable_x64(True)``, so the numbers do not
depend on the caller's global x64 setting (the solver dtype is part of the config).

Testing hook: if the environment variable ``PDESOLVE_GENERATE_KILL_AFTER`` is an integer
``k``, the process SIGKILLs itself right after its ``k``-th batch is flushed (no clean-up
runs), to test resumption after a hard kill.
"""

from __future__ import annotations

import functools
import json
import math
import os
import signal
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._compat import enable_x64
from .._errors import DatasetError, InvalidInputError
from .._version import __version__
from ._layout import LayoutInfo, create_file, open_h5, validate_file, write_samples
from ._recipes import physical_attrs, resolve_config

KILL_AFTER_ENV = "PDESOLVE_GENERATE_KILL_AFTER"
TMP_SUFFIX = ".tmp"


def _x64():
    return enable_x64(True)


def spectral_truncate(u, shape: Sequence[int]):
    r"""Resample the real periodic field `u` (last ``len(shape)`` axes) to `shape` by Fourier truncation.

    Keeps the modes $|m_i| < R_i/2$ of the target grid (the Nyquist mode of an even target is
    dropped) and rescales, so point values of band-limited fields are preserved exactly.
    Works on any leading batch axes; returns `u` itself if the shapes already agree.
    """
    import jax.numpy as jnp

    d = len(shape)
    fine = tuple(u.shape[-d:])
    shape = tuple(int(s) for s in shape)
    if fine == shape:
        return u
    if any(s > n for s, n in zip(shape, fine)):
        raise InvalidInputError(f"cannot truncate a {fine} field to the finer grid {shape}")
    axes = tuple(range(u.ndim - d, u.ndim))
    u_hat = jnp.fft.rfftn(u, axes=axes)
    for k, (n_in, n_out) in enumerate(zip(fine, shape)):
        axis = u.ndim - d + k
        if k == d - 1:
            keep = (n_out + 1) // 2
            kept = jnp.take(u_hat, jnp.arange(keep), axis=axis)
            pad = n_out // 2 + 1 - keep
            parts = [kept]
        else:
            positive, negative = (n_out + 1) // 2, (n_out - 1) // 2
            parts = [jnp.take(u_hat, jnp.arange(positive), axis=axis)]
            pad = n_out - positive - negative
            tail = jnp.take(u_hat, jnp.arange(n_in - negative, n_in), axis=axis)
        if pad:
            zeros_shape = list(u_hat.shape)
            zeros_shape[axis] = pad
            parts.append(jnp.zeros(zeros_shape, u_hat.dtype))
        if k != d - 1:
            parts.append(tail)
        u_hat = jnp.concatenate(parts, axis=axis)
    scale = math.prod(shape) / math.prod(fine)
    return jnp.fft.irfftn(u_hat * scale, s=shape, axes=axes).astype(u.dtype)


class _Solver:
    """Solves one batch of samples of a config (built once per config, compiled once)."""

    def __init__(self, config: Mapping[str, Any]):
        import jax
        import jax.numpy as jnp

        from ..initial_conditions import gaussian_random_field, random_fourier_series
        from ..integrators import build_stepper
        from ..pdes import Burgers, Heat, NavierStokes2D, fno_forcing, kolmogorov_forcing
        from ..spatial import PeriodicGrid

        self.config = dict(config)
        dtype = jnp.float32 if config["dtype"] == "float32" else jnp.float64
        d, extent = config["ndim"], config["extent"]
        grid = PeriodicGrid(config["solve_resolution"], extent=extent, ndim=d, dtype=dtype)
        params = config["params"]
        if config["pde"] == "heat":
            pde = Heat(grid, params["nu"])
        elif config["pde"] == "burgers":
            pde = Burgers(grid, params["nu"])
        else:
            if params["forcing"] == "fno":
                forcing = fno_forcing(grid)
            else:
                forcing = kolmogorov_forcing(grid, params["forcing_wavenumber"], params["forcing_amplitude"])
            pde = NavierStokes2D(grid, viscosity=params["nu"], drag=params["drag"], forcing=forcing)
        self.stepper = build_stepper(config["integrator"], pde, config["dt"])
        ic = config["initial_condition"]
        channels = len(config["channels"])

        def initial(key):
            if ic["kind"] == "gaussian_random_field":
                u0 = gaussian_random_field(key, grid, alpha=ic["alpha"], tau=ic["tau"], sigma=ic["sigma"],
                                           num_channels=channels)
            else:
                u0 = ic["amplitude"] * random_fourier_series(key, grid, max_mode=ic["max_mode"], num_channels=channels)
            return u0.astype(dtype)

        out_shape = (config["resolution"],) * d

        def finish(frames):  # (b, t, c, *fine) -> (b, t, *coarse, c), float32
            frames = spectral_truncate(frames, out_shape)
            return jnp.moveaxis(frames, 2, -1).astype(jnp.float32)

        self._initial = jax.jit(jax.vmap(initial))
        self._finish = jax.jit(finish)
        self.num_steps = config["num_saves"] * config["steps_per_save"]

    def __call__(self, seeds: Sequence[int]) -> np.ndarray:
        import jax
        import jax.numpy as jnp

        from ..integrators import rollout_batch

        keys = jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])
        u0s = self._initial(keys)
        frames = rollout_batch(
            self.stepper, u0s, self.num_steps, save_every=self.config["steps_per_save"], include_initial=True
        )
        return np.asarray(self._finish(frames))


@functools.lru_cache(maxsize=4)
def _cached_solver(key: str) -> _Solver:
    return _Solver(json.loads(key))


def _solver(config: Mapping[str, Any]) -> _Solver:
    """The solver of `config`, shared by configs that differ only in sample count and base seed."""
    key = {k: v for k, v in config.items() if k not in ("num_samples", "seed")}
    return _cached_solver(json.dumps(key, sort_keys=True))


def solve_samples(config: Mapping[str, Any], seeds: Sequence[int]) -> np.ndarray:
    """Solve the samples of `config` for `seeds`, exactly as :func:`generate` does.

    Seeds are solved in batches of ``config["batch_size"]`` (the last one padded), so the
    result for a seed is bit-identical to the sample stored in a generated file. Returns a
    float32 array ``[len(seeds), t, *space, channel]``.
    """
    seeds = [int(s) for s in seeds]
    batch = int(config["batch_size"])
    with _x64():
        solver = _solver(config)
        parts = []
        for start in range(0, len(seeds), batch):
            chunk = seeds[start : start + batch]
            padded = chunk + [chunk[-1]] * (batch - len(chunk))
            parts.append(solver(padded)[: len(chunk)])
    return np.concatenate(parts, axis=0)


def regenerate_samples(path, indices: Sequence[int]) -> np.ndarray:
    """Recompute samples `indices` of a generated file from its stored config and seeds."""
    info = validate_file(path, allow_incomplete=True, check_data=False)
    with open_h5(path) as f:
        seeds = np.asarray(f["seeds"][()])
    return solve_samples(info.config, [int(seeds[i]) for i in indices])


def _differences(stored: Mapping, requested: Mapping, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(stored) | set(requested)):
        a, b = stored.get(key, "<missing>"), requested.get(key, "<missing>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.extend(_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            out.append(f"{prefix}{key} = {a!r} in the file vs {b!r} requested")
    return out


def _check_same(path, info: LayoutInfo, config: Mapping) -> None:
    if info.version != __version__:
        raise DatasetError(
            f"{path}: cannot resume, it was written by pdesolve {info.version} and this is {__version__} "
            "(results could differ); delete it and start again"
        )
    diffs = _differences(info.config, config)
    if diffs:
        raise DatasetError(
            f"{path}: cannot resume, the recipe differs: {'; '.join(diffs[:3])}"
            + (f" (and {len(diffs) - 3} more)" if len(diffs) > 3 else "")
        )


def generate(
    recipe: str,
    n: int,
    resolution: int,
    out,
    *,
    seed: int = 0,
    batch_size: int | None = None,
    resume: bool = False,
    progress: bool = True,
    overwrite: bool = False,
    compression: str = "gzip",
    **overrides,
) -> LayoutInfo:
    """Generate `n` samples of `recipe` at `resolution` into the ``pdesolve-v1`` file `out`.

    **Arguments:**

    - `recipe`: ``heat1d``, ``heat2d``, ``burgers1d``, ``ns-fno`` or ``ns-kolmogorov``
      (see :data:`~pdesolve.datasets.RECIPES`).
    - `n`: number of samples; `resolution`: output grid points per axis.
    - `out`: the ``.h5`` file to write. Work in progress lives in ``out + ".tmp"``.
    - `seed`: sample ``i`` uses seed ``seed + i`` (stored in the ``seeds`` dataset).
    - `batch_size`: samples solved together in one vmapped rollout (default: fits ~256 MiB).
      On resume the stored batch size is used.
    - `resume`: continue an interrupted run from ``out + ".tmp"`` (its config must match; a
      missing temporary file starts afresh, a finished `out` with the same config is returned).
    - `progress`: show a tqdm progress bar.
    - `overwrite`: replace an existing `out` (otherwise an existing `out` is an error).
    - `compression`: one of :data:`~pdesolve.datasets.COMPRESSIONS`: ``"gzip"`` (default, readable
      by every HDF5 tool), ``"lzf"``, ``"blosc-lz4"``, ``"blosc-zstd"`` (fast to decode; need
      ``hdf5plugin``, the ``fast-io`` extra) or ``"none"``; see :func:`~pdesolve.datasets.create_file`.
    - `overrides`: recipe parameters: ``nu``, ``drag``, ``t_final``, ``dt_save``, ``integrator``,
      ``dtype``, ``solve_resolution``, ``dt``, ... (``None`` keeps the default).

    Returns the :class:`~pdesolve.datasets.LayoutInfo` of the finished file. Raises
    :class:`~pdesolve.DatasetError` for file problems (existing output, config mismatch on
    resume) and :class:`~pdesolve.InvalidInputError` for bad parameters.
    """
    from tqdm.auto import tqdm

    out = os.fspath(out)
    tmp = out + TMP_SUFFIX
    config = resolve_config(recipe, n, resolution, seed=seed, batch_size=batch_size, **overrides)
    start = 0
    if resume and os.path.exists(tmp):
        try:
            stored = validate_file(tmp, allow_incomplete=True, check_data=False)
        except DatasetError as err:
            raise DatasetError(
                f"cannot resume: {err} (a process killed while writing can leave it so); delete {tmp} and start again"
            ) from None
        if batch_size is None and "batch_size" in stored.config:
            config["batch_size"] = stored.config["batch_size"]
        _check_same(tmp, stored, config)
        start = stored.num_complete
    elif resume and os.path.exists(out):
        info = validate_file(out)
        _check_same(out, info, config)
        return info
    else:
        if os.path.exists(tmp):
            raise DatasetError(
                f"{tmp}: an interrupted generation is in the way; resume it (resume=True, --resume) or delete it"
            )
        if os.path.exists(out) and not overwrite:
            raise DatasetError(f"{out}: already exists; pass overwrite=True (--overwrite) or choose another path")
        _create(tmp, config, compression)
    batch = config["batch_size"]
    if start % batch and start != n:
        raise DatasetError(f"{tmp}: num_complete = {start} is not a multiple of the batch size {batch}")
    kill_after = os.environ.get(KILL_AFTER_ENV)
    kill_after = int(kill_after) if kill_after else None
    written = 0
    with _x64(), tqdm(total=n, initial=start, unit="sample", desc=f"generate {recipe}", disable=not progress) as bar:
        solver = _solver(config)
        for first in range(start, n, batch):
            seeds = np.arange(first, min(first + batch, n), dtype=np.int64) + config["seed"]
            padded = np.concatenate([seeds, np.repeat(seeds[-1:], batch - len(seeds))])
            bar.set_postfix_str(f"solving samples {first}-{first + len(seeds) - 1}", refresh=True)
            data = solver(padded.tolist())[: len(seeds)]
            write_samples(tmp, first, data, seeds)
            bar.update(len(seeds))
            written += 1
            if kill_after is not None and written >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
    validate_file(tmp)
    _fsync(tmp)  # the data reach the disk before the name does
    os.replace(tmp, out)
    return validate_file(out, check_data=False)


def _create(path, config, compression) -> None:
    d, r, extent = config["ndim"], config["resolution"], config["extent"]
    axis = np.arange(r, dtype=np.float64) * (extent / r)
    times = np.arange(config["num_saves"] + 1, dtype=np.float64) * config["dt_save"]
    create_file(
        path,
        num_samples=config["num_samples"],
        times=times,
        coordinates=[axis] * d,
        num_channels=len(config["channels"]),
        config=config,
        attrs=physical_attrs(config),
        compression=compression,
    )


def _fsync(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
