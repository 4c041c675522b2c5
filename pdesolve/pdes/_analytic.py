"""Closed-form solutions used to verify the solvers."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ..spatial import PeriodicGrid


def heat_fourier_mode(
    grid: PeriodicGrid, t: ArrayLike, diffusivity: ArrayLike, modes: Sequence[Sequence[int]] = ((1,),)
) -> Float[Array, "1 ..."]:
    r"""Sum of Fourier modes under the periodic heat equation.

    $u(x, t) = \sum_m \cos(k_m\cdot x)\, e^{-\nu |k_m|^2 t}$ with $k_{m,i} = 2\pi m_i / L_i$;
    `modes` lists the integer vectors $m$ (one entry per axis).
    """
    x = grid.coordinates()
    u = jnp.zeros(grid.shape, dtype=grid.dtype)
    for m in modes:
        k = [2 * jnp.pi * mi / length for mi, length in zip(m, grid.extent)]
        phase = sum(ki * xi for ki, xi in zip(k, x))
        u = u + jnp.cos(phase) * jnp.exp(-diffusivity * sum(ki**2 for ki in k) * t)
    return u[None]


def taylor_green_vorticity(
    grid: PeriodicGrid, t: ArrayLike, viscosity: ArrayLike, wavenumber: int = 1, drag: ArrayLike = 0.0
) -> Float[Array, "1 x y"]:
    r"""Taylor-Green vortex vorticity on the periodic box $[0, 2\pi)^2$ (or scaled box).

    $\omega = 2k\cos(kx)\cos(ky)\,e^{-(2\nu k^2 + \alpha) t}$, streamfunction $\psi = \omega/(2k^2)$.
    The advection term vanishes identically, so this is an exact Navier-Stokes solution.
    """
    x, y = grid.coordinates()
    kx = 2 * jnp.pi * wavenumber / grid.extent[0]
    ky = 2 * jnp.pi * wavenumber / grid.extent[1]
    decay = jnp.exp(-(viscosity * (kx**2 + ky**2) + drag) * t)
    return (2 * kx * jnp.cos(kx * x) * jnp.cos(ky * y) * decay)[None].astype(grid.dtype)


def cole_hopf_burgers(
    x: Float[ArrayLike, " n"], t: ArrayLike, viscosity: ArrayLike, a0: float = 2.0, a1: float = 1.0, length: float = 2 * jnp.pi
) -> Float[Array, "1 n"]:
    r"""Periodic 1D viscous Burgers solution by the Cole-Hopf transform.

    With $\phi(x,t) = a_0 + a_1 e^{-\nu k^2 t}\cos(kx)$, $k = 2\pi/L$ and $a_0 > |a_1|$,
    $u = -2\nu\,\phi_x/\phi = 2\nu k a_1 e^{-\nu k^2 t}\sin(kx) / \phi$ solves
    $u_t + u u_x = \nu u_{xx}$.
    """
    x = jnp.asarray(x)
    k = 2 * jnp.pi / length
    decay = a1 * jnp.exp(-viscosity * k**2 * t)
    phi = a0 + decay * jnp.cos(k * x)
    return (2 * viscosity * k * decay * jnp.sin(k * x) / phi)[None]


def dirichlet_heat_sine_modes(
    x: Float[ArrayLike, " n"], t: ArrayLike, diffusivity: ArrayLike, modes: Sequence[int] = (1,), length: float = 1.0
) -> Float[Array, "1 n"]:
    r"""Heat equation on $(0, L)$ with $u(0)=u(L)=0$: $u = \sum_m \sin(m\pi x/L)\,e^{-\nu (m\pi/L)^2 t}$."""
    x = jnp.asarray(x)
    u = 0.0
    for m in modes:
        k = m * jnp.pi / length
        u = u + jnp.sin(k * x) * jnp.exp(-diffusivity * k**2 * t)
    return jnp.asarray(u)[None]
