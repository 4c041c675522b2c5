r"""Dataset recipes: which PDE, domain, initial conditions, solver and output times.

A recipe plus the generation arguments (number of samples, output resolution, base seed,
overrides) resolves to a *config*: a JSON-ready dict that fixes everything needed to
recompute any sample bit for bit from its seed (solver resolution, integrator, time step,
dtype, initial-condition parameters, batch size). The config is stored in the file's
``config`` attribute and checked on ``--resume``.

The recipes themselves are declared in :mod:`pdesolve.problems` (:class:`~pdesolve.problems.Recipe`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .._errors import InvalidInputError
from ..problems import RECIPES, Recipe, get_recipe

SPECTRAL_INTEGRATORS = ("etdrk1", "etdrk2", "etdrk3", "etdrk4", "cn-euler", "cn-rk3")
DTYPES = ("float32", "float64")
# Memory budget of one solved batch at the solver resolution, used for the default batch size.
_BATCH_BYTES = 256 * 2**20

__all__ = ["RECIPES", "Recipe", "get_recipe", "resolve_config", "default_batch_size", "physical_attrs"]


def _positive(name, value, kind=float):
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a {kind.__name__}, got {value!r}") from None
    if kind is int and (isinstance(value, bool) or number != value):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    if not (number > 0 and math.isfinite(number)):
        raise InvalidInputError(f"{name} must be positive and finite, got {value!r}")
    return number


def default_batch_size(config: Mapping[str, Any]) -> int:
    """Samples per solved batch: at most 32 and about 256 MiB of frames at the solver resolution.

    The samples are split into the fewest batches within that budget, of balanced size (the
    last batch is padded with copies of its last seed, so fewer padded solves).
    """
    itemsize = 4 if config["dtype"] == "float32" else 8
    per_sample = (config["num_saves"] + 1) * config["solve_resolution"] ** config["ndim"] * len(config["channels"])
    fit = int(max(1, min(32, _BATCH_BYTES // max(1, 3 * per_sample * itemsize))))
    batches = -(-config["num_samples"] // fit)
    return -(-config["num_samples"] // batches)  # balanced, so the last batch is not mostly padding


def resolve_config(
    recipe: str,
    n: int,
    resolution: int,
    *,
    seed: int = 0,
    batch_size: int | None = None,
    **overrides,
) -> dict:
    """Resolve a recipe and its overrides into the full generation config (a JSON-ready dict).

    **Arguments:**

    - `recipe`: a name from :data:`RECIPES`.
    - `n`: number of samples; `resolution`: output points per axis.
    - `seed`: sample ``i`` is generated from seed ``seed + i``.
    - `batch_size`: samples solved together (default: :func:`default_batch_size`).
    - `overrides`: recipe parameters (``nu``, ``drag``, ``t_final``, ``dt_save``, ``integrator``,
      ``dtype``, ``solve_resolution``, ``dt`` = the largest allowed step, ...). ``None`` values
      mean "the default".

    Raises :class:`~pdesolve.InvalidInputError` for an unknown recipe or parameter, or a bad value.
    """
    spec = get_recipe(recipe)
    unknown = sorted(set(overrides) - set(spec.parameters))
    if unknown:
        raise InvalidInputError(
            f"unknown parameter {unknown[0]!r} for recipe {recipe!r}; allowed: {', '.join(spec.parameters)}"
        )
    params = dict(spec.defaults)
    params.update({k: v for k, v in overrides.items() if v is not None and k in spec.defaults})
    n = int(_positive("n", n, int))
    resolution = int(_positive("resolution", resolution, int))
    if resolution < 4:
        raise InvalidInputError(f"resolution must be at least 4, got {resolution}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0 or seed + n > 2**63 - 1:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    nu = float(params["nu"])
    if not (nu >= 0 and math.isfinite(nu)):
        raise InvalidInputError(f"nu must be non-negative and finite, got {params['nu']!r}")
    params["nu"] = nu
    if "drag" in params:
        drag = float(params["drag"])
        if not (drag >= 0 and math.isfinite(drag)):
            raise InvalidInputError(f"drag must be non-negative and finite, got {params['drag']!r}")
        params["drag"] = drag
    if "forcing_wavenumber" in params:
        params["forcing_wavenumber"] = int(_positive("forcing_wavenumber", params["forcing_wavenumber"], int))
        params["forcing_amplitude"] = float(params["forcing_amplitude"])
    t_final = params.pop("t_final")
    if t_final is None:  # the FNO benchmark's horizon for its three viscosities
        t_final = 50.0 if nu >= 1e-3 else 30.0 if nu >= 1e-4 else 20.0
    t_final = _positive("t_final", t_final)
    dt_save = _positive("dt_save", params.pop("dt_save"))
    num_saves = round(t_final / dt_save)
    if num_saves < 1 or abs(num_saves * dt_save - t_final) > 1e-9 * max(1.0, t_final):
        raise InvalidInputError(f"t_final = {t_final} must be a positive multiple of dt_save = {dt_save}")
    integrator = params.pop("integrator")
    if integrator not in SPECTRAL_INTEGRATORS:
        raise InvalidInputError(f"integrator must be one of {', '.join(SPECTRAL_INTEGRATORS)}, got {integrator!r}")
    dtype = params.pop("dtype")
    if dtype not in DTYPES:
        raise InvalidInputError(f"dtype must be float32 or float64, got {dtype!r}")
    solve_resolution = overrides.get("solve_resolution")
    if solve_resolution is None:
        solve_resolution = min(max(spec.refinement * resolution, spec.min_solve_resolution), spec.max_solve_resolution)
        solve_resolution = max(solve_resolution, resolution)
    solve_resolution = int(_positive("solve_resolution", solve_resolution, int))
    if solve_resolution < resolution:
        raise InvalidInputError(f"solve_resolution ({solve_resolution}) must be at least resolution ({resolution})")
    max_dt = overrides.get("dt")
    if max_dt is None:
        max_dt = dt_save if spec.cfl is None else min(dt_save, spec.cfl * spec.extent / solve_resolution)
    max_dt = _positive("dt", max_dt)
    steps_per_save = max(1, math.ceil(dt_save / max_dt - 1e-9))
    if spec.pde == "navier-stokes":
        params["forcing"] = "fno" if recipe == "ns-fno" else "kolmogorov"
    config = {
        "format": 1,
        "recipe": recipe,
        "description": spec.description,
        "pde": spec.pde,
        "ndim": spec.ndim,
        "channels": list(spec.channels),
        "extent": spec.extent,
        "num_samples": n,
        "resolution": resolution,
        "solve_resolution": solve_resolution,
        "downsampling": "spectral-truncation" if solve_resolution != resolution else "none",
        "seed": int(seed),
        "seeds": "seed + sample index",
        "t_final": float(num_saves * dt_save),
        "dt_save": float(dt_save),
        "num_saves": int(num_saves),
        "dt": float(dt_save / steps_per_save),
        "steps_per_save": int(steps_per_save),
        "integrator": integrator,
        "dtype": dtype,
        "params": params,
        "initial_condition": dict(spec.initial_condition),
    }
    if batch_size is None:
        batch_size = default_batch_size(config)
    config["batch_size"] = int(_positive("batch_size", batch_size, int))
    return config


def physical_attrs(config: Mapping[str, Any]) -> dict:
    """Root attributes of a file generated from `config`: physical parameters and the time grid."""
    spec = get_recipe(config["recipe"])
    attrs = {key: config["params"][key] for key in spec.physical if key in config["params"]}
    attrs.update(
        recipe=config["recipe"],
        pde=config["pde"],
        extent=float(config["extent"]),
        dt_save=config["dt_save"],
        t_final=config["t_final"],
        dt=config["dt"],
        resolution=config["resolution"],
        solve_resolution=config["solve_resolution"],
        integrator=config["integrator"],
        seed=config["seed"],
        channels=",".join(config["channels"]),
    )
    return attrs
