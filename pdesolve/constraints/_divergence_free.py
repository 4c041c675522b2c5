r"""Projections of velocity fields onto divergence-free fields (Leray / Helmholtz-Hodge).

Every square-integrable velocity splits as $u = w + \nabla\phi$ with $\nabla\cdot w = 0$; the
Leray projector $\mathbb{P}u = w = u - \nabla\Delta^{-1}\nabla\cdot u$ is the orthogonal
projection onto divergence-free fields (Chorin 1968; Temam 1969).

- Periodic box (:class:`LerayProjection`): diagonal in Fourier space,
  $\widehat{\mathbb{P}u}(k) = \hat u(k) - \tilde k\,(\tilde k\cdot\hat u(k))/|\tilde k|^2$, with
  $\tilde k$ the wavenumbers of :func:`pdesolve.spatial.derivative_operator` (Nyquist modes set
  to zero), so the spectral divergence of the result vanishes to rounding.
- Bounded box with no-penetration walls (:class:`StaggeredLerayProjection`): velocities on a
  staggered (MAC) grid, $\mathbb{P} = I - G(DG)^{-1}D$ with $D$ the cell divergence and
  $G = -D^\top$ the face gradient; the Neumann Poisson problem $-DG\phi = -Du$ is solved
  matrix-free by conjugate gradients (lineax), so the discrete divergence of the result is the
  CG residual (Harlow & Welch 1965).

References:
    A. J. Chorin, "Numerical solution of the Navier-Stokes equations", Math. Comp. 22 (1968).
    F. H. Harlow, J. E. Welch, "Numerical calculation of time-dependent viscous incompressible
    flow of fluid with free surface", Phys. Fluids 8 (1965) 2182.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, Bool, Float

from .._errors import InvalidInputError
from ..spatial import PeriodicGrid, derivative_operator, irfft, rfft
from ._failure import check_on_failure, report_failure


class LerayProjection(eqx.Module):
    r"""Spectral Leray projection of a velocity ``(d, *grid)`` on a periodic grid (d = 2 or 3).

    Exact (to rounding) and idempotent; linear, so gradients are exact. The mean flow is kept.

    **Arguments:**

    - `grid`: a :class:`pdesolve.spatial.PeriodicGrid` with 2 or 3 dimensions.
    """

    grid: PeriodicGrid

    def __init__(self, grid: PeriodicGrid):
        if not isinstance(grid, PeriodicGrid) or grid.ndim not in (2, 3):
            raise InvalidInputError("LerayProjection needs a 2D or 3D PeriodicGrid")
        self.grid = grid

    def __call__(self, u: Float[Array, "d ..."]) -> Float[Array, "d ..."]:
        self.grid.check_field(u, "velocity", num_channels=self.grid.ndim)
        d_op = derivative_operator(self.grid)  # i k~, shape (d, *spectral)
        u_hat = rfft(u, self.grid)
        divergence = jnp.sum(d_op * u_hat, axis=0)
        symbol = jnp.sum(d_op * d_op, axis=0)  # -|k~|^2
        safe = jnp.where(symbol == 0, 1.0, symbol)
        phi = jnp.where(symbol == 0, 0.0, divergence / safe)
        return irfft(u_hat - d_op * phi[None], self.grid)

    def divergence(self, u: Float[Array, "d ..."]) -> Float[Array, "..."]:
        """Spectral divergence $\\nabla\\cdot u$ with the same derivative symbols."""
        d_op = derivative_operator(self.grid)
        return irfft(jnp.sum(d_op * rfft(u, self.grid), axis=0), self.grid)


def _pad_faces(face: Array, axis: int) -> Array:
    widths = [(0, 0)] * face.ndim
    widths[axis] = (1, 1)
    return jnp.pad(face, widths)


class StaggeredLerayProjection(eqx.Module):
    r"""Discrete Leray projection on a box $\prod_i [0, L_i]$ with walls ($u\cdot n = 0$).

    Cells form a grid of shape ``shape`` with spacings $h_i = L_i/N_i$. Velocity component $i$
    lives on the *interior* faces normal to axis $i$: an array with the cell shape except
    $N_i - 1$ along axis $i$ (wall faces carry zero normal velocity). The divergence is
    $(Du)_c = \sum_i (u_{c+e_i/2} - u_{c-e_i/2})/h_i$ and the projection
    $u - G\phi$ with $DG\phi = Du$ solved by CG on the positive semidefinite
    $-DG$ (the Neumann Laplacian; $Du$ has zero sum, so the system is consistent).

    **Arguments:**

    - `shape`: cells per axis (2 or 3 axes, each >= 2).
    - `extent`: box lengths (default 1 on every axis).
    - `rtol`, `atol`, `max_steps`: CG settings (``atol`` is absolute on the divergence).
    - `on_failure`: ``"raise"``, ``"warn"`` or ``"ignore"`` when CG does not converge.
    """

    shape: tuple[int, ...] = eqx.field(static=True)
    spacing: tuple[float, ...] = eqx.field(static=True)
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    on_failure: str = eqx.field(static=True)

    def __init__(self, shape, extent=1.0, rtol: float = 1e-12, atol: float = 1e-13,
                 max_steps: int = 10_000, on_failure: str = "raise"):
        shape = tuple(int(n) for n in shape)
        if len(shape) not in (2, 3) or min(shape) < 2:
            raise InvalidInputError(f"shape must have 2 or 3 axes of at least 2 cells, got {shape}")
        extent = (float(extent),) * len(shape) if isinstance(extent, (int, float)) else tuple(map(float, extent))
        if len(extent) != len(shape) or min(extent) <= 0:
            raise InvalidInputError(f"extent must be positive, one per axis, got {extent}")
        self.shape = shape
        self.spacing = tuple(length / n for length, n in zip(extent, shape))
        self.rtol, self.atol, self.max_steps = float(rtol), float(atol), int(max_steps)
        self.on_failure = check_on_failure(on_failure)

    def face_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Shapes of the interior-face arrays, one per velocity component."""
        return tuple(tuple(n - (axis == i) for axis, n in enumerate(self.shape)) for i in range(len(self.shape)))

    def _check(self, faces):
        if not isinstance(faces, (tuple, list)) or tuple(f.shape for f in faces) != self.face_shapes():
            got = tuple(getattr(f, "shape", None) for f in faces) if isinstance(faces, (tuple, list)) else type(faces)
            raise InvalidInputError(f"faces must be a tuple of arrays shaped {self.face_shapes()}, got {got}")

    def divergence(self, faces) -> Float[Array, "..."]:
        """Cell-centred discrete divergence $Du$."""
        self._check(faces)
        return sum(jnp.diff(_pad_faces(f, i), axis=i) / h for i, (f, h) in enumerate(zip(faces, self.spacing)))

    def _gradient(self, phi):
        return tuple(jnp.diff(phi, axis=i) / h for i, h in enumerate(self.spacing))

    def __call__(self, faces) -> tuple[tuple[Array, ...], Bool[Array, ""]]:
        """Return ``(projected_faces, converged)``."""
        div = self.divergence(faces)
        structure = jax.ShapeDtypeStruct(div.shape, div.dtype)

        def neg_laplacian(phi):
            return -self.divergence(self._gradient(phi))

        operator = lx.FunctionLinearOperator(
            neg_laplacian, structure, tags=(lx.symmetric_tag, lx.positive_semidefinite_tag)
        )
        cg = lx.CG(rtol=self.rtol, atol=self.atol, max_steps=self.max_steps)
        solution = lx.linear_solve(operator, -div, cg, throw=False)
        converged = solution.result == lx.RESULTS.successful
        phi = report_failure(
            solution.value, converged, self.on_failure,
            "StaggeredLerayProjection: the CG pressure solve did not converge",
        )
        grad = self._gradient(phi)
        return tuple(f - g for f, g in zip(faces, grad)), converged

