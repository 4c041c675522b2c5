"""Shims over the JAX versions pdesolve supports (see ``pyproject.toml`` for the range).

Each function takes the newest spelling of a JAX feature and falls back to the older one, so
the rest of the package is written once against the newest API.
"""

from __future__ import annotations

import contextlib

import jax


def enable_x64(enabled: bool = True):
    """A context manager that sets float64 on (``True``) or off (``False``) inside its block.

    ``jax.enable_x64`` (JAX 0.8 and newer), else ``jax.experimental.enable_x64`` /
    ``disable_x64`` (older JAX).
    """
    scope = getattr(jax, "enable_x64", None)
    if scope is not None:
        return scope(enabled)
    from jax import experimental

    return experimental.enable_x64() if enabled else experimental.disable_x64()


__all__ = ["enable_x64"]
