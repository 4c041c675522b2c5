r"""Fitted :class:`TENGNetwork` weights stored as small versioned ``.npz`` files.

A file holds the flat parameter vector $\theta$ (``jax.flatten_util.ravel_pytree`` order of a
:class:`TENGNetwork`), the hyperparameters that rebuild the network around it, the format
version and free-form provenance (fit error, command). Files shipped with the package live in
``pdesolve/neural_fields/data/`` and are loaded by name, e.g.
``load_fitted_network("teng_initial_cpu")`` (written by ``experiments/teng_initial_fit.py``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from .._errors import InvalidInputError
from ._networks import TENGNetwork

#: Version of the ``.npz`` layout written by :func:`save_fitted_network`.
FITTED_FORMAT_VERSION = 1
DATA_DIR = Path(__file__).resolve().parent / "data"


def save_fitted_network(path: str | os.PathLike, net: TENGNetwork, **metadata) -> Path:
    """Write ``net`` to ``path`` (an ``.npz``) with its hyperparameters and JSON ``metadata``.

    **Arguments:**

    - `path`: target file; ``.npz`` is appended if missing.
    - `net`: the fitted :class:`TENGNetwork`.
    - `metadata`: JSON-serialisable provenance (fit error, command, ...), stored as one string.
    """
    if not isinstance(net, TENGNetwork):
        raise InvalidInputError(f"net must be a TENGNetwork, got {type(net).__name__}")
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    theta, _ = ravel_pytree(net)
    np.savez(
        path,
        format_version=np.int64(FITTED_FORMAT_VERSION),
        theta=np.asarray(theta, np.float64),
        width=np.int64(net.biases[0].shape[0] if len(net.biases) > 1 else net.amplitude.size),
        depth=np.int64(len(net.weights) + 1),
        embedding_size=np.int64(net.amplitude.shape[1]),
        extent=np.asarray(net.extent, np.float64),
        metadata=np.asarray(json.dumps(metadata, default=float)),
    )
    return path


def load_fitted_network(name_or_path: str | os.PathLike) -> tuple[TENGNetwork, dict]:
    """Load a network written by :func:`save_fitted_network`: ``(net, metadata)``.

    **Arguments:**

    - `name_or_path`: a file path, or the name of a file shipped in
      ``pdesolve/neural_fields/data/`` (without ``.npz``), e.g. ``"teng_initial_cpu"``.
    """
    path = Path(name_or_path)
    if not path.is_file():
        shipped = DATA_DIR / f"{name_or_path}.npz"
        if not shipped.is_file():
            available = sorted(p.stem for p in DATA_DIR.glob("*.npz"))
            raise InvalidInputError(f"name_or_path: no file {str(name_or_path)!r}; shipped: {available}")
        path = shipped
    with np.load(path, allow_pickle=False) as data:
        version = int(data["format_version"])
        if version != FITTED_FORMAT_VERSION:
            raise InvalidInputError(f"name_or_path: format version {version}, this pdesolve reads {FITTED_FORMAT_VERSION}")
        extent = tuple(float(e) for e in data["extent"])
        skeleton = TENGNetwork(jax.random.PRNGKey(0), len(extent), int(data["width"]), int(data["depth"]),
                               int(data["embedding_size"]), extent=extent)
        flat, unravel = ravel_pytree(skeleton)
        theta = data["theta"]
        if theta.shape != flat.shape:
            raise InvalidInputError(f"name_or_path: {theta.size} parameters stored, the network has {flat.size}")
        metadata = json.loads(str(data["metadata"]))
    return unravel(jax.numpy.asarray(theta, flat.dtype)), metadata
