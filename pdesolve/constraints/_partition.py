r"""Smooth partitions of unity over periodic subdomains, to blend independent experts.

A mixture of experts that uses expert $k$'s field on its subdomain $\Omega_k$ alone jumps across
the subdomain edges. Blending with weights $\chi_k \ge 0$, $\sum_k \chi_k = 1$, that are 1 inside
$\Omega_k$ (shrunk by a strip of width $\beta$ per side) and fall smoothly to 0 within $\beta$ of
its edges gives a smooth prediction that equals expert $k$'s field away from the strips (where the
constraint points lie, so hard constraints keep holding there).

The weights are products $\chi_{i_x}(x)\,\chi_{i_y}(y)$ of periodic 1D windows built from the
$C^4$ step :func:`smooth_step` (four derivatives vanish at both ends, as needed by a vorticity
residual, which takes four derivatives of a streamfunction).
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


def smooth_step(z: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
    r"""$s(z) = 0$ for $z \le -1$, $1$ for $z \ge 1$, and in between the degree-9 polynomial in
    $t = (z + 1)/2$, $s = t^5(126 - 420t + 540t^2 - 315t^3 + 70t^4)$, whose first four derivatives
    vanish at both ends ($C^4$)."""
    t = jnp.clip((z + 1) / 2, 0.0, 1.0)
    return t**5 * (126 - 420 * t + 540 * t**2 - 315 * t**3 + 70 * t**4)


def periodic_window(x: Float[ArrayLike, "..."], i: int, num_intervals: int, blend: float) -> Float[Array, "..."]:
    r"""$\chi_i(x)$ on the periodic $[0, 1)$ cut into $a$ = `num_intervals` intervals: 1 on
    $[i/a + \beta, (i+1)/a - \beta]$, 0 outside $[i/a - \beta, (i+1)/a + \beta]$ ($\beta$ = `blend`),
    :func:`smooth_step` in between; $\sum_i \chi_i = 1$ (needs $\beta < 1/(2a)$)."""
    a = num_intervals
    r = (x - (i + 0.5) / a + 0.5) % 1.0 - 0.5  # signed periodic offset from the interval's centre
    return smooth_step((r + 0.5 / a) / blend) * (1 - smooth_step((r - 0.5 / a) / blend))


def quadrant_windows(point: Float[Array, " d"], experts_per_axis: int, blend: float) -> Float[Array, " k"]:
    r"""The $K = a^2$ weights $\chi_k = \chi_{i_x}(x)\,\chi_{i_y}(y)$, $k = a\,i_x + i_y$, at one
    point $(x, y, \dots)$ of the periodic unit square cut into $a\times a$ quadrants."""
    a = experts_per_axis
    cx = jnp.stack([periodic_window(point[0], i, a, blend) for i in range(a)])
    cy = jnp.stack([periodic_window(point[1], i, a, blend) for i in range(a)])
    return (cx[:, None] * cy[None, :]).ravel()
