"""Shared helpers of the first-order (Adam-family) optimizers in :mod:`pdesolve.optim`.

Argument validation happens at construction time, on concrete Python/NumPy/JAX scalars; a
hyperparameter that is a tracer (an optimizer built inside ``jax.jit``) is not checked.
All numerics keep each leaf in its own dtype: scalars derived from the step count
(bias corrections, bounds) are computed in the default float precision and cast to the
leaf's dtype before they meet it, as optax's own transforms do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, ArrayLike, Int

from .._errors import InvalidInputError


def concrete_float(value: Any) -> float | None:
    """``float(value)`` for a concrete scalar, ``None`` when it is traced or not a scalar."""
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError, jax.errors.ConcretizationTypeError):
        return None


def check_learning_rate(learning_rate: Any, name: str = "learning_rate") -> None:
    """A learning rate is a non-negative finite scalar or a schedule ``count -> scalar``."""
    if callable(learning_rate):
        return
    value = concrete_float(learning_rate)
    if value is None:
        if not hasattr(learning_rate, "shape"):
            raise InvalidInputError(
                f"{name} must be a non-negative scalar or a schedule (callable step -> scalar), "
                f"got {learning_rate!r}"
            )
        return
    if not (math.isfinite(value) and value >= 0.0):
        raise InvalidInputError(f"{name} must be a finite non-negative number, got {value}")


def check_beta(beta: Any, name: str) -> None:
    """Exponential-average decay rates live in ``[0, 1)``."""
    value = concrete_float(beta)
    if value is not None and not (0.0 <= value < 1.0):
        raise InvalidInputError(f"{name} must lie in [0, 1), got {value}")


def check_nonnegative(value: Any, name: str) -> None:
    """``value >= 0`` and finite."""
    v = concrete_float(value)
    if v is not None and not (math.isfinite(v) and v >= 0.0):
        raise InvalidInputError(f"{name} must be a finite non-negative number, got {v}")


def check_positive(value: Any, name: str) -> None:
    """``value > 0`` and finite."""
    v = concrete_float(value)
    if v is not None and not (math.isfinite(v) and v > 0.0):
        raise InvalidInputError(f"{name} must be a finite positive number, got {v}")


def is_zero(value: Any) -> bool:
    """True only for a concrete scalar equal to zero (a traced value counts as non-zero)."""
    v = concrete_float(value)
    return v is not None and v == 0.0


def increment(count: Int[Array, ""]) -> Int[Array, ""]:
    """Step counter ``t -> t + 1`` that saturates at the int32 maximum instead of wrapping."""
    max_int32 = jnp.iinfo(jnp.int32).max
    return jnp.where(count < max_int32, count + 1, max_int32).astype(jnp.int32)


def debias(decay: ArrayLike, count: Int[Array, ""]) -> Array:
    """``1 - decay**count`` in the default float precision (cast per leaf by the caller)."""
    return 1.0 - jnp.asarray(decay) ** count


def ema(new: Any, old: Any, decay: ArrayLike) -> Any:
    """Leafwise exponential moving average ``decay * old + (1 - decay) * new``."""
    return jax.tree.map(lambda n, o: (decay * o + (1.0 - decay) * n).astype(o.dtype), new, old)


def zeros_like(tree: Any) -> Any:
    """Zeros with each leaf's shape and dtype."""
    return jax.tree.map(jnp.zeros_like, tree)


def require_params(params: Any, who: str) -> None:
    """Raise a clear error when a transform that needs the parameters did not get them."""
    if params is None:
        raise InvalidInputError(
            f"{who} needs the current parameters: call `update(updates, state, params)`"
        )


def add_weight_decay(weight_decay: ArrayLike) -> optax.GradientTransformation:
    """``updates + weight_decay * params`` (decoupled weight decay before the learning rate).

    Unlike :func:`optax.add_decayed_weights` it is always part of the chain (so the chain's
    state has the same structure whether ``weight_decay`` is a Python zero or an injected
    hyperparameter) and it needs ``params`` only when ``weight_decay`` is not a concrete zero.
    """

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        if is_zero(weight_decay):
            return updates, state
        require_params(params, "weight decay")
        new = jax.tree.map(lambda u, p: (u + weight_decay * p).astype(u.dtype), updates, params)
        return new, state

    return optax.GradientTransformation(init_fn, update_fn)


LearningRate = float | ArrayLike | Callable[[Int[Array, ""]], ArrayLike]
