r"""Central finite-difference operators (2nd and 4th order) on uniform grids.

Periodic operators act on fields shaped ``(channels, *grid)`` by shifting with
:func:`jax.numpy.roll`. Dirichlet operators act on the *interior* unknowns of a uniform grid
on a box: with $N$ intervals of width $h$ along an axis, the nodes are $x_j = j h$,
$j = 0, \dots, N$, the unknowns are $u_1, \dots, u_{N-1}$ and the boundary values $u_0$,
$u_N$ are given.

In every function the spatial axes are the trailing ``len(spacing)`` axes of the array
(axis 0 of the grid is $x$); leading channel/batch axes are carried along.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._errors import InvalidInputError

_ORDERS = (2, 4)

# Interior rows of the 1D second-derivative stencils, times h^2 (offsets -r..r).
_SECOND_DERIVATIVE = {
    2: (1.0, -2.0, 1.0),
    4: (-1 / 12, 16 / 12, -30 / 12, 16 / 12, -1 / 12),
}
# First-derivative stencils, times h (offsets -r..r).
_FIRST_DERIVATIVE = {
    2: (-1 / 2, 0.0, 1 / 2),
    4: (1 / 12, -8 / 12, 0.0, 8 / 12, -1 / 12),
}
# One-sided closure of the 4th-order second derivative at the first interior node x_1,
# times h^2, acting on u_0 ... u_5. It is exact for polynomials of degree <= 5, so the
# truncation error is O(h^4) (mirrored at x_{N-1}).
_DIRICHLET_CLOSURE_4 = (10 / 12, -15 / 12, -4 / 12, 14 / 12, -6 / 12, 1 / 12)

# Gershgorin bounds on h^2 |lambda| for the 1D second-derivative matrices: the bulk rows give
# |a_ii| + sum_j |a_ij| = 4 (order 2) and 64/12 = 16/3 (order 4); the Dirichlet closure row gives
# 15/12 + 25/12 = 40/12 < 16/3, so the same bound holds with and without boundaries.
_EIGENVALUE_CONSTANT = {2: 4.0, 4: 16.0 / 3.0}


def _check_order(order) -> int:
    if isinstance(order, bool) or order not in _ORDERS:
        raise InvalidInputError(f"finite-difference order must be 2 or 4, got {order!r}")
    return int(order)


def _check_spacing(spacing, ndim: int | None = None) -> tuple[float, ...]:
    """Normalise `spacing` to a tuple of positive finite floats (a scalar fills `ndim` axes)."""
    if isinstance(spacing, (int, float, np.integer, np.floating)) and not isinstance(spacing, bool):
        if ndim is None:
            raise InvalidInputError("spacing must be a tuple with one grid spacing per axis")
        spacing = (spacing,) * ndim
    try:
        spacing = tuple(float(h) for h in spacing)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"spacing must be a tuple of positive floats, got {spacing!r}") from err
    if len(spacing) not in (1, 2, 3):
        raise InvalidInputError(f"finite differences support 1, 2 or 3 dimensions, got {len(spacing)} spacings")
    for h in spacing:
        if not (h > 0 and math.isfinite(h)):
            raise InvalidInputError(f"grid spacing must be positive and finite, got {h}")
    return spacing


def _check_field(u, spacing, name: str = "u") -> tuple[Array, tuple[float, ...]]:
    dtype = getattr(u, "dtype", None)
    if dtype is None or np.dtype(dtype).kind != "f":
        raise InvalidInputError(
            f"{name} must be a real floating array, got dtype {dtype}; "
            f"convert with jnp.asarray({name}, dtype=jnp.float64) or float32"
        )
    u = jnp.asarray(u)
    spacing = _check_spacing(spacing, None if u.ndim < 2 else u.ndim - 1)
    if u.ndim < len(spacing) + 1:
        raise InvalidInputError(
            f"{name} has shape {tuple(u.shape)} but {len(spacing)} spacings need (channels, *grid) "
            f"with {len(spacing)} grid axes"
        )
    return u, spacing


def _spatial_axis(u: Array, ndim: int, axis: int) -> int:
    return u.ndim - ndim + axis


def _periodic_stencil(u: Array, coefficients: Sequence[float], array_axis: int) -> Array:
    radius = len(coefficients) // 2
    out = jnp.zeros_like(u)
    for offset, c in zip(range(-radius, radius + 1), coefficients):
        if c != 0.0:
            # roll by -offset puts u_{j+offset} at position j.
            out = out + c * jnp.roll(u, -offset, axis=array_axis)
    return out


def fd_laplacian_periodic(
    u: Float[Array, "c *grid"], spacing: Sequence[float], order: int = 2
) -> Float[Array, "c *grid"]:
    r"""Central finite-difference Laplacian on a periodic grid (1D, 2D or 3D).

    Along each axis with spacing $h$:

    - order 2: $(u_{j-1} - 2u_j + u_{j+1}) / h^2$,
    - order 4: $(-u_{j-2} + 16u_{j-1} - 30u_j + 16u_{j+1} - u_{j+2}) / (12h^2)$,

    and $\Delta_h u$ is the sum over axes. The truncation error is $O(h^{\text{order}})$.

    **Arguments:**

    - `u`: field shaped ``(channels, *grid)`` (the grid axes are the trailing ``len(spacing)`` ones).
    - `spacing`: grid spacing $h_i$ per axis (e.g. ``grid.spacing``).
    - `order`: 2 or 4.
    """
    order = _check_order(order)
    u, spacing = _check_field(u, spacing)
    return _periodic_laplacian(u, spacing, order)


# The operators are jitted as a whole: one compilation per shape instead of one per primitive.
@functools.partial(jax.jit, static_argnums=(1, 2))
def _periodic_laplacian(u: Array, spacing: tuple[float, ...], order: int) -> Array:
    ndim = len(spacing)
    out = jnp.zeros_like(u)
    for axis, h in enumerate(spacing):
        out = out + _periodic_stencil(u, _SECOND_DERIVATIVE[order], _spatial_axis(u, ndim, axis)) / h**2
    return out


def fd_derivative_periodic(
    u: Float[Array, "c *grid"], spacing: Sequence[float], axis: int, order: int = 2
) -> Float[Array, "c *grid"]:
    r"""Central finite-difference first derivative $\partial u / \partial x_{\text{axis}}$ on a periodic grid.

    - order 2: $(u_{j+1} - u_{j-1}) / (2h)$,
    - order 4: $(u_{j-2} - 8u_{j-1} + 8u_{j+1} - u_{j+2}) / (12h)$.

    **Arguments:**

    - `u`: field shaped ``(channels, *grid)``.
    - `spacing`: grid spacing $h_i$ per axis.
    - `axis`: spatial axis to differentiate along (0 is $x$, 1 is $y$, 2 is $z$).
    - `order`: 2 or 4.
    """
    order = _check_order(order)
    u, spacing = _check_field(u, spacing)
    ndim = len(spacing)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not 0 <= axis < ndim:
        raise InvalidInputError(f"axis must be an integer in [0, {ndim}), got {axis!r}")
    return _periodic_derivative(u, spacing, int(axis), order)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _periodic_derivative(u: Array, spacing: tuple[float, ...], axis: int, order: int) -> Array:
    array_axis = _spatial_axis(u, len(spacing), axis)
    return _periodic_stencil(u, _FIRST_DERIVATIVE[order], array_axis) / spacing[axis]


def _boundary_pairs(boundary_values, ndim: int) -> list[tuple]:
    """Normalise `boundary_values` to one ``(low, high)`` pair per axis."""
    if not isinstance(boundary_values, (tuple, list)):
        return [(boundary_values, boundary_values)] * ndim
    values = list(boundary_values)
    if ndim == 1 and len(values) == 2 and not isinstance(values[0], (tuple, list)):
        return [tuple(values)]
    if len(values) != ndim:
        raise InvalidInputError(
            f"boundary_values needs one (low, high) pair per axis ({ndim} axes), got {len(values)} entries"
        )
    pairs = []
    for axis, pair in enumerate(values):
        if isinstance(pair, (tuple, list)):
            if len(pair) != 2:
                raise InvalidInputError(f"boundary_values[{axis}] must be a (low, high) pair, got {len(pair)} entries")
            pairs.append(tuple(pair))
        else:
            pairs.append((pair, pair))
    return pairs


def _face(value, u: Array, array_axis: int) -> Array:
    """Broadcast a boundary value to a one-node-thick slab of `u` normal to `array_axis`."""
    face_shape = u.shape[:array_axis] + u.shape[array_axis + 1 :]
    value = jnp.asarray(value, dtype=u.dtype)
    try:
        value = jnp.broadcast_to(value, face_shape)
    except ValueError as err:
        raise InvalidInputError(
            f"a boundary value of shape {tuple(value.shape)} does not broadcast to the face shape {face_shape}"
        ) from err
    return jnp.expand_dims(value, array_axis)


def _take(p: Array, start: int, stop: int, array_axis: int) -> Array:
    return jax.lax.slice_in_dim(p, start, stop, axis=array_axis)


def _dirichlet_second_derivative(p: Array, order: int, array_axis: int) -> Array:
    """Second difference times h^2 at nodes 1..N-1, given the padded nodes 0..N of `p`."""
    n_nodes = p.shape[array_axis]  # N + 1
    num = n_nodes - 2  # interior nodes
    if order == 2:
        stencil = _SECOND_DERIVATIVE[2]
        return sum(c * _take(p, k, k + num, array_axis) for k, c in enumerate(stencil))
    last = n_nodes - 1  # N
    first_row = sum(c * _take(p, k, k + 1, array_axis) for k, c in enumerate(_DIRICHLET_CLOSURE_4))
    last_row = sum(c * _take(p, last - k, last - k + 1, array_axis) for k, c in enumerate(_DIRICHLET_CLOSURE_4))
    bulk_count = num - 2  # nodes 2..N-2
    bulk = sum(c * _take(p, k, k + bulk_count, array_axis) for k, c in enumerate(_SECOND_DERIVATIVE[4]))
    return jnp.concatenate([first_row, bulk, last_row], axis=array_axis)


def fd_laplacian_dirichlet(
    u_interior: Float[Array, "c *interior"],
    spacing: Sequence[float],
    boundary_values=0.0,
    order: int = 2,
) -> Float[Array, "c *interior"]:
    r"""Finite-difference Laplacian on the interior nodes of a box with Dirichlet data.

    With $N$ intervals along an axis, `u_interior` holds $u_1, \dots, u_{N-1}$ and $u_0$,
    $u_N$ come from `boundary_values`. Along each axis:

    - order 2: $(u_{j-1} - 2u_j + u_{j+1}) / h^2$ for $j = 1, \dots, N-1$;
    - order 4: $(-u_{j-2} + 16u_{j-1} - 30u_j + 16u_{j+1} - u_{j+2}) / (12h^2)$ for
      $j = 2, \dots, N-2$, and at the nodes next to the boundary the one-sided
      $(10u_0 - 15u_1 - 4u_2 + 14u_3 - 6u_4 + u_5) / (12h^2)$ (mirrored at $j = N-1$).
      Both are exact on polynomials of degree $\le 5$, so the truncation error is $O(h^4)$.

    In several dimensions the Laplacian is the sum of these 1D differences, which only
    needs boundary values on the faces (never at corners).

    **Arguments:**

    - `u_interior`: interior values shaped ``(channels, N_1 - 1, ..., N_d - 1)``.
    - `spacing`: grid spacing $h_i$ per axis.
    - `boundary_values`: a scalar (the same value on every face), or per axis a
      ``(low, high)`` pair for the faces $x_i = 0$ and $x_i = L_i$ (in 1D a bare pair is
      accepted too). Each face value is a scalar or an array broadcastable to the face,
      i.e. to the shape of `u_interior` with that axis removed.
    - `order`: 2 (needs $N \ge 2$) or 4 (needs $N \ge 5$ on every axis).
    """
    order = _check_order(order)
    u, spacing = _check_field(u_interior, spacing, "u_interior")
    ndim = len(spacing)
    minimum = 1 if order == 2 else 4
    for axis in range(ndim):
        size = u.shape[_spatial_axis(u, ndim, axis)]
        if size < minimum:
            raise InvalidInputError(
                f"order-{order} Dirichlet differences need at least {minimum} interior points per axis "
                f"(N >= {minimum + 1} intervals); axis {axis} has {size}"
            )
    pairs = []
    for axis, (low, high) in enumerate(_boundary_pairs(boundary_values, ndim)):
        array_axis = _spatial_axis(u, ndim, axis)
        pairs.append((_face(low, u, array_axis), _face(high, u, array_axis)))
    return _dirichlet_laplacian(u, tuple(pairs), spacing, order)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _dirichlet_laplacian(u: Array, faces: tuple, spacing: tuple[float, ...], order: int) -> Array:
    ndim = len(spacing)
    out = jnp.zeros_like(u)
    for axis, (h, (low, high)) in enumerate(zip(spacing, faces)):
        array_axis = _spatial_axis(u, ndim, axis)
        padded = jnp.concatenate([low, u, high], axis=array_axis)
        out = out + _dirichlet_second_derivative(padded, order, array_axis) / h**2
    return out


def fd_laplacian_eigenvalue_bound(spacing: Sequence[float], order: int = 2) -> float:
    r"""Upper bound on the spectral radius of the finite-difference Laplacian.

    Returns $\sum_i c / h_i^2$ with $c = 4$ (order 2) or $c = 16/3$ (order 4). For the
    periodic operators this is attained by the grid-scale (Nyquist) mode. It also bounds the
    Dirichlet operators of :func:`fd_laplacian_dirichlet`, one-sided 4th-order closure
    included: by Gershgorin's theorem every 1D eigenvalue lies within $c/h^2$ of the origin
    (the closure rows give only $40/(12h^2)$), and the multi-dimensional operator is a
    Kronecker sum, whose eigenvalues are sums of 1D eigenvalues.

    **Arguments:** `spacing` (grid spacing per axis, or a scalar for 1D) and `order` (2 or 4).
    """
    order = _check_order(order)
    spacing = _check_spacing(spacing, 1)
    return float(sum(_EIGENVALUE_CONSTANT[order] / h**2 for h in spacing))


def fd_laplacian_dirichlet_matrix(
    num_interior: int, spacing: float, order: int = 2, dtype=None
) -> Float[Array, "n n"]:
    r"""Dense matrix of the 1D Dirichlet Laplacian of :func:`fd_laplacian_dirichlet` (zero boundary data).

    Useful for small-size checks (eigenvalues, exact-in-time reference solutions).
    """
    order = _check_order(order)
    identity = jnp.eye(int(num_interior), dtype=dtype)
    # Row i of the result is the operator applied to the i-th unit vector, i.e. column i of A.
    return fd_laplacian_dirichlet(identity, (spacing,), 0.0, order).T

