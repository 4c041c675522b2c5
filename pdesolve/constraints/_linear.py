r"""Exact projections onto affine constraint sets $\{u : A u = b\}$, in closed form.

The Euclidean projection onto $\{u : Au = b\}$ (with $A$ of full row rank) is

$$
P(u) = u - A^\top (A A^\top)^{-1} (A u - b),
$$

an affine map, so ordinary automatic differentiation through it is exact (no iteration, no
approximation). Special cases with cheaper formulas:

- conserved mass: one weight vector $w$ per channel ($w$ = quadrature weights), constraint
  $w^\top u_c = M_c$, giving $P(u)_c = u_c - w\,(w^\top u_c - M_c)/(w^\top w)$;
- fixed boundary values: the constraint $u_i = g_i$ on a mask of points, whose projection
  simply overwrites those points.

Hard linear constraints of this kind on neural-operator outputs follow e.g.
D. Hansen, D. C. Maddix, S. Alizadeh, G. Gupta, M. W. Mahoney, "Learning physical models that
can respect conservation laws", ICML 2023 (ProbConserv), and Négiar et al., ICLR 2023.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from .._errors import InvalidInputError


class AbstractProjection(eqx.Module):
    """A layer mapping a field (and the constraint's right-hand side) onto a constraint set.

    The constraint's own data (quadrature weights, the matrix $A$) are constants: they are used
    through ``jax.lax.stop_gradient``, so a training loop that differentiates every floating
    array of a model (``eqx.filter(model, eqx.is_inexact_array)``) gets zero gradients for
    them and cannot move the constraint set.
    """

    def __call__(self, u, target):  # pragma: no cover - abstract
        raise NotImplementedError


class LinearEqualityProjection(AbstractProjection):
    r"""Orthogonal projection onto $\{u : A\,\mathrm{vec}(u) = b\}$ for a full-row-rank $A$.

    $P(u) = u - A^\top (AA^\top)^{-1}(Au - b)$, computed with a Cholesky factor of $AA^\top$
    (formed once, at construction). Exact: $A P(u) = b$ to rounding, $P(P(u)) = P(u)$, and its
    derivative is the constant orthogonal projector $I - A^\top (AA^\top)^{-1}A$.

    **Arguments:**

    - `matrix`: $A$, shaped ``(m, n)`` with ``n`` the size of the field (flattened in C order).
    """

    matrix: Float[Array, "m n"]
    cholesky: Float[Array, "m m"]

    def __init__(self, matrix):
        a = jnp.asarray(matrix)
        if a.ndim != 2 or a.shape[0] < 1 or not jnp.issubdtype(a.dtype, jnp.floating):
            raise InvalidInputError(f"matrix must be a 2D floating array (m, n), got shape {a.shape} and dtype {a.dtype}")
        if a.shape[0] > a.shape[1] or np.linalg.matrix_rank(np.asarray(a)) < a.shape[0]:
            raise InvalidInputError(f"matrix (shape {a.shape}) must have full row rank; drop redundant constraints")
        self.matrix = a
        self.cholesky = jnp.linalg.cholesky(a @ a.T)

    def __call__(self, u: Float[Array, "..."], target: Float[Array, " m"]) -> Float[Array, "..."]:
        """Project ``u`` (any shape with ``u.size == n``) onto $A\\,\\mathrm{vec}(u) = $ ``target``."""
        m, n = self.matrix.shape
        matrix = jax.lax.stop_gradient(self.matrix).astype(u.dtype)
        cholesky = jax.lax.stop_gradient(self.cholesky).astype(u.dtype)
        if u.size != n:
            raise InvalidInputError(f"u has {u.size} entries but the constraint matrix has {n} columns")
        target = jnp.asarray(target, u.dtype)
        if target.shape != (m,):
            raise InvalidInputError(f"target must have shape ({m},), got {target.shape}")
        flat = u.reshape(-1)
        violation = matrix @ flat - target
        y = jax.scipy.linalg.cho_solve((cholesky, True), violation)
        return (flat - matrix.T @ y).reshape(u.shape)


class MassProjection(AbstractProjection):
    r"""Project each channel onto a prescribed total mass $\sum_i w_i u_{c,i} = M_c$.

    $P(u)_c = u_c - w\,(w^\top u_c - M_c)/(w^\top w)$: for uniform weights (a uniform grid)
    this subtracts a constant, so the mean of each channel becomes $M_c/\sum_i w_i$.

    **Arguments:**

    - `weights`: quadrature weights shaped like one channel of the field (``grid.shape``);
      a float means uniform weights of that value (e.g. ``grid.cell_volume``), in which case
      `shape` must be given.
    - `shape`: spatial shape, needed with scalar weights.
    """

    weights: Float[Array, "..."]

    def __init__(self, weights=1.0, shape: tuple[int, ...] | None = None):
        w = jnp.asarray(weights)
        if w.ndim == 0:
            if shape is None:
                raise InvalidInputError("MassProjection with scalar weights needs the spatial shape")
            w = jnp.full(tuple(shape), w)
        if not jnp.issubdtype(w.dtype, jnp.floating) or not bool(jnp.all(jnp.isfinite(w))):
            raise InvalidInputError("weights must be finite floating-point numbers")
        if not float(jnp.sum(w * w)) > 0:
            raise InvalidInputError("weights must not all be zero")
        self.weights = w

    def mass(self, u: Float[Array, "c ..."]) -> Float[Array, " c"]:
        r"""Total mass per channel, $\sum_i w_i u_{c,i}$."""
        self._check(u)
        w = jax.lax.stop_gradient(self.weights).astype(u.dtype)
        return jnp.sum(u * w, axis=tuple(range(1, u.ndim)))

    def _check(self, u):
        if u.shape[1:] != self.weights.shape:
            raise InvalidInputError(f"u has shape {u.shape}; expected (channels, *{self.weights.shape})")

    def __call__(self, u: Float[Array, "c ..."], target: Float[Array, " c"]) -> Float[Array, "c ..."]:
        """Project ``u`` so that ``self.mass(result) == target`` (one value per channel)."""
        self._check(u)
        w = jax.lax.stop_gradient(self.weights).astype(u.dtype)
        target = jnp.broadcast_to(jnp.asarray(target, u.dtype), u.shape[:1])
        excess = (self.mass(u) - target) / jnp.sum(w * w)
        return u - excess.reshape((-1,) + (1,) * (u.ndim - 1)) * w


class BoundaryValueProjection(AbstractProjection):
    r"""Project onto fixed values at masked points: $P(u)_i = g_i$ on the mask, $u_i$ elsewhere.

    **Arguments:**

    - `mask`: boolean array shaped like the field (or broadcastable to it), ``True`` where the
      value is prescribed. :meth:`boundary_mask` builds the mask of a box's faces.
    """

    mask: Bool[Array, "..."]

    def __init__(self, mask):
        m = jnp.asarray(mask)
        if m.dtype != jnp.bool_:
            raise InvalidInputError(f"mask must be boolean, got dtype {m.dtype}")
        self.mask = m

    @staticmethod
    def boundary_mask(shape: tuple[int, ...], num_channels: int = 1) -> Bool[Array, "c ..."]:
        """Mask of the first and last point along every spatial axis, shaped ``(c, *shape)``."""
        mask = np.zeros(shape, dtype=bool)
        for axis in range(len(shape)):
            index = [slice(None)] * len(shape)
            for end in (0, -1):
                index[axis] = end
                mask[tuple(index)] = True
        return jnp.asarray(np.broadcast_to(mask, (num_channels,) + tuple(shape)))

    def __call__(self, u: Float[Array, "..."], target: Float[Array, "..."]) -> Float[Array, "..."]:
        """Overwrite the masked entries of ``u`` by ``target`` (broadcast against ``u``)."""
        try:
            mask = jnp.broadcast_to(self.mask, u.shape)
        except ValueError as err:
            raise InvalidInputError(f"mask shape {self.mask.shape} does not fit u of shape {u.shape}") from err
        return jnp.where(mask, jnp.asarray(target, u.dtype), u)


class ConstrainedModel(eqx.Module):
    r"""A model whose outputs are projected onto a constraint set: $x \mapsto P(f(x), g(x))$.

    ``target_fn`` gives the constraint's right-hand side from the model input (e.g. the mass of
    the input field, so the prediction conserves it); the projection's derivative is exact, so
    the composite trains with ordinary gradients.

    **Arguments:**

    - `model`: any callable module (e.g. :class:`pdesolve.operators.FNO`).
    - `projection`: an :class:`AbstractProjection` (or any ``(u, target) -> u`` callable).
    - `target_fn`: ``x -> target`` (e.g. the bound method ``projection.mass``).

    Example (an FNO conserving mass exactly)::

        proj = MassProjection(grid.cell_volume, shape=grid.shape)
        model = ConstrainedModel(FNO(1, 1, key=key), proj, proj.mass)
    """

    model: Callable
    projection: Callable
    target_fn: Callable

    def __call__(self, x):
        return self.projection(self.model(x), self.target_fn(x))
