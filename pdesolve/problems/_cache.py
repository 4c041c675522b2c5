"""An on-disk cache of spectral reference fields, outside the repository.

Files live under ``$PDESOLVE_CACHE`` (default ``~/.cache/pdesolve``) in ``field-references/``, one
``.npz`` per (problem, resolution, time step, time) holding the field and those keys. A file
that cannot be read, whose keys differ, or whose field is not finite with the expected shape is
recomputed, never trusted.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    """``$PDESOLVE_CACHE/field-references`` (default ``~/.cache/pdesolve/field-references``)."""
    root = os.environ.get("PDESOLVE_CACHE") or Path.home() / ".cache" / "pdesolve"
    return Path(root) / "field-references"


def _key(problem: str, resolution: int, dt: float, t: float) -> dict:
    return {"problem": problem, "resolution": int(resolution), "dt": float(dt), "t": round(float(t), 10)}


def cache_path(problem: str, resolution: int, dt: float, t: float) -> Path:
    """The cache file of one reference field."""
    k = _key(problem, resolution, dt, t)
    return cache_dir() / f"{k['problem']}-n{k['resolution']}-dt{k['dt']!r}-t{k['t']!r}.npz"


def load(problem: str, resolution: int, dt: float, t: float, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cached field, or ``None`` if absent or not valid."""
    path = cache_path(problem, resolution, dt, t)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = {k: data[k].item() for k in ("problem", "resolution", "dt", "t")}
            field = np.array(data["field"])
    except Exception:  # noqa: BLE001 - any unreadable file is recomputed
        return None
    if meta != _key(problem, resolution, dt, t) or field.shape != shape or field.dtype != np.float64:
        return None
    if not np.all(np.isfinite(field)):
        return None
    return field


def save(problem: str, resolution: int, dt: float, t: float, field: np.ndarray) -> None:
    """Write one field atomically (best effort: a read-only cache is not an error)."""
    path = cache_path(problem, resolution, dt, t)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, field=np.asarray(field, np.float64), **_key(problem, resolution, dt, t))
        os.replace(tmp, path)
    except OSError:
        pass
