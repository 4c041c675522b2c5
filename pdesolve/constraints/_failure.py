"""Reporting a failed inner solve: a flag plus a warning or an error, by the caller's choice."""

from __future__ import annotations

import warnings
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, PyTree

from .._errors import InvalidInputError

OnFailure = Literal["raise", "warn", "ignore"]
_POLICIES = ("raise", "warn", "ignore")


class ConvergenceWarning(UserWarning):
    """An inner solve (forward root/least-squares solve or the backward linear solve) stopped
    before meeting its tolerance; the value or gradient it produced is not trustworthy."""


def check_on_failure(on_failure: str) -> str:
    """Validate an ``on_failure`` policy string (``"raise"``, ``"warn"`` or ``"ignore"``)."""
    if on_failure not in _POLICIES:
        raise InvalidInputError(f"on_failure must be one of {_POLICIES}, got {on_failure!r}")
    return on_failure


def _warn_host(failed, message: str) -> None:
    failed = jnp.asarray(failed)
    if bool(failed.any()):
        count = int(failed.sum())
        total = int(failed.size)
        suffix = "" if total == 1 else f" ({count} of {total} solves)"
        warnings.warn(message + suffix, ConvergenceWarning, stacklevel=2)


def report_failure(value: PyTree, converged: Bool[Array, "..."], on_failure: str, message: str) -> PyTree:
    """Return ``value`` unchanged, after acting on ``converged`` according to ``on_failure``.

    - ``"raise"``: :func:`equinox.error_if` stops the computation with ``message``
      (an ``equinox`` runtime error inside ``jit``; the text contains ``message``).
    - ``"warn"``: a :class:`ConvergenceWarning` is issued on the host through
      :func:`jax.debug.callback` (works inside ``jit``, ``vmap`` and ``grad``).
    - ``"ignore"``: nothing; the caller still gets the ``converged`` flag.
    """
    check_on_failure(on_failure)
    failed = jnp.logical_not(jnp.asarray(converged))
    if on_failure == "raise":
        return eqx.error_if(value, failed, message)
    if on_failure == "warn":
        jax.debug.callback(lambda f: _warn_host(f, message), failed)
    return value
