"""Atomic training checkpoints: model, optimizer state, RNG key and counters in one file.

File format: one line of JSON metadata (``step``, ``epoch``, ``history``, ``config``, format
version; :func:`~pdesolve.training.train` adds ``steps_per_epoch``, ``partial`` (the per-step
values of an unfinished epoch) and, after a non-finite loss, ``stopped``), then the array leaves of ``(model, opt_state, key)`` written by
:func:`equinox.tree_serialise_leaves`. It is written to ``<path>.tmp``, flushed, fsynced and
renamed over `path`, so a crash leaves either the previous checkpoint or the new one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import equinox as eqx

from .._errors import InvalidInputError

FORMAT = "pdesolve-checkpoint-1"


def save_checkpoint(path, *, model, opt_state, key, step: int, epoch: int, metadata: dict | None = None) -> Path:
    """Write a checkpoint atomically (temp file, fsync, rename); returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": FORMAT, "step": int(step), "epoch": int(epoch), **(metadata or {})}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(json.dumps(header, default=float).encode() + b"\n")
        eqx.tree_serialise_leaves(f, (model, opt_state, key))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read_checkpoint_header(path) -> dict[str, Any]:
    """The JSON metadata of a checkpoint (step, epoch, history, config, ...)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"no checkpoint at {path}")
    with open(path, "rb") as f:
        line = f.readline()
    try:
        header = json.loads(line)
    except ValueError:
        raise InvalidInputError(f"{path} is not a pdesolve checkpoint (unreadable header)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InvalidInputError(f"{path} is not a pdesolve checkpoint (format {FORMAT} expected)")
    return header


def load_checkpoint(path, *, model, opt_state, key):
    """Read a checkpoint into the structure of ``(model, opt_state, key)``.

    Returns ``(model, opt_state, key, header)``. The `model`, `opt_state`, `key` arguments are
    templates with the right structure, shapes and dtypes (e.g. a freshly initialised run).
    """
    header = read_checkpoint_header(path)
    with open(path, "rb") as f:
        f.readline()
        try:
            model, opt_state, key = eqx.tree_deserialise_leaves(f, (model, opt_state, key))
        except Exception as err:  # shape/dtype mismatch, truncated file
            raise InvalidInputError(f"{path}: checkpoint does not match this model/optimizer ({type(err).__name__}: "
                                    f"{str(err).splitlines()[0] if str(err) else ''})") from None
    return model, opt_state, key, header
