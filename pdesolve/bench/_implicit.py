r"""``pdesolve bench implicit``: implicit vs unrolled differentiation of an iterative solver.

Problem (float64): the nonlinear system

$$
F(x, \theta) = x + \beta L x + \tfrac{c}{3} x^3 - \theta = 0, \qquad x, \theta \in \mathbb{R}^n ,
$$

with $L = \mathrm{tridiag}(-1, 2, -1)$ (Dirichlet), $\beta = 5$, $c = 1$, solved by $K$ damped
Richardson (fixed-point) iterations $x \leftarrow x - \eta F(x, \theta)$. The loss is
$\|x_K\|^2$, and we time ``jax.value_and_grad`` of it with respect to $\theta$ for

- **ours**: the same solver wrapped in :func:`pdesolve.constraints.custom_root` (backward pass:
  one matrix-free CG solve with $\partial_x F$, symmetric positive definite here);
- **anchor "unrolled"**: reverse-mode differentiation through the $K$ iterations
  (``lax.scan``), which stores every iterate.

For each $K$ we report the wall time after compilation (best of ``repeats``), the error of each
gradient against the exact implicit gradient at the converged solution (a tridiagonal solve),
and the memory of the compiled gradient function: XLA's ``compiled.memory_analysis()``
``temp_size_in_bytes`` (scratch memory of the whole forward+backward computation; on CPU this
compile-time figure stands in for peak device memory). Implicit memory stays flat in $K$;
unrolled memory grows linearly.
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

from .._compat import enable_x64
from .._errors import InvalidInputError
from ..constraints import custom_root
from ._timing import best_time

_BETA = 5.0
_CUBIC = 1.0


def _laplacian_1d(x):
    padded = jnp.pad(x, 1)
    return 2 * x - padded[:-2] - padded[2:]


def _optimality(x, theta):
    return x + _BETA * _laplacian_1d(x) + (_CUBIC / 3.0) * x**3 - theta


def _step_size(theta):
    # Richardson step 1 / (upper bound of the Jacobian's spectrum); |x| <= max|theta| holds
    # for this monotone map, so the cubic term's slope is bounded by c * max|theta|^2.
    return 1.0 / (1.0 + 4 * _BETA + _CUBIC * jnp.max(jnp.abs(theta)) ** 2)


def _richardson(x0, theta, num_iterations):
    eta = _step_size(theta)

    def body(x, _):
        return x - eta * _optimality(x, theta), None

    x, _ = jax.lax.scan(body, x0, None, length=num_iterations)
    return x


def _exact_gradient(theta, num_iterations_converged):
    """Gradient of ||x*||^2 by the implicit function theorem with a tridiagonal solve."""
    x = _richardson(jnp.zeros_like(theta), theta, num_iterations_converged)
    n = x.size
    diag = 1.0 + 2 * _BETA + _CUBIC * x**2
    off = -_BETA * jnp.ones(n)
    lower = off.at[0].set(0.0)
    upper = off.at[-1].set(0.0)
    lam = jax.lax.linalg.tridiagonal_solve(lower, diag, upper, (2 * x)[:, None])[:, 0]
    # d/dtheta of F is -I, so grad = -(-lam) = lam
    residual = jnp.max(jnp.abs(_optimality(x, theta)))
    return lam, residual


def _temp_bytes(fn, arg):
    try:
        analysis = jax.jit(fn).lower(arg).compile().memory_analysis()
        return int(analysis.temp_size_in_bytes)
    except Exception:  # pragma: no cover - backends without memory analysis
        return None


def run_implicit_benchmark(
    size: int = 4096,
    iterations: tuple[int, ...] = (10, 100, 1000, 4000),
    repeats: int = 3,
    quick: bool = False,
) -> dict:
    """Run the implicit-vs-unrolled comparison; returns ``{"results": [...], ...}``.

    Each result has the documented keys ``name, ours_s, anchor ("unrolled"), anchor_s, ratio
    (= anchor_s / ours_s), error_ours, error_anchor`` plus ``iterations``, ``size``,
    ``temp_bytes_ours``, ``temp_bytes_anchor``, ``memory_ratio`` (= anchor / ours),
    ``forward_residual`` (max|F| after the K iterations) and ``memory_source``.
    """
    if quick:
        size, iterations, repeats = 256, (10, 100, 400), 2
    if not isinstance(size, int) or size < 3:
        raise InvalidInputError(f"size must be an integer >= 3, got {size!r}")
    if not iterations or any(not isinstance(k, int) or k < 1 for k in iterations):
        raise InvalidInputError(f"iterations must be positive integers, got {iterations!r}")
    if not isinstance(repeats, int) or repeats < 1:
        raise InvalidInputError(f"repeats must be a positive integer, got {repeats!r}")
    with enable_x64(True):
        theta = jnp.sin(jnp.linspace(0.0, 6 * np.pi, size)) + 0.5 * jnp.cos(jnp.linspace(0.0, 2 * np.pi, size))
        converged_iterations = 3000 if size <= 512 else 6000
        exact, exact_residual = _exact_gradient(theta, converged_iterations)
        exact_norm = float(jnp.linalg.norm(exact))
        results = []
        for k in iterations:

            def unrolled_loss(th, k=k):
                x = _richardson(jnp.zeros_like(th), th, k)
                return jnp.sum(x**2)

            @custom_root(_optimality, linear_solver=lx.CG(rtol=1e-12, atol=1e-14),
                         tags=(lx.symmetric_tag, lx.positive_semidefinite_tag), on_failure="ignore")
            def solve(x0, th, k=k):
                return _richardson(x0, th, k)

            def implicit_loss(th):
                x = solve(jnp.zeros_like(th), th)
                return jnp.sum(x**2)

            grad_implicit = jax.jit(jax.value_and_grad(implicit_loss))
            grad_unrolled = jax.jit(jax.value_and_grad(unrolled_loss))
            ours_s, (_, g_ours) = best_time(grad_implicit, theta, repeats)
            anchor_s, (_, g_anchor) = best_time(grad_unrolled, theta, repeats)
            mem_ours = _temp_bytes(jax.value_and_grad(implicit_loss), theta)
            mem_anchor = _temp_bytes(jax.value_and_grad(unrolled_loss), theta)
            x_k = jax.jit(lambda th, k=k: _richardson(jnp.zeros_like(th), th, k))(theta)
            results.append(
                {
                    "name": f"richardson_n{size}_k{k}",
                    "ours_s": ours_s,
                    "anchor": "unrolled",
                    "anchor_s": anchor_s,
                    "ratio": anchor_s / ours_s,
                    "error_ours": float(jnp.linalg.norm(g_ours - exact)) / exact_norm,
                    "error_anchor": float(jnp.linalg.norm(g_anchor - exact)) / exact_norm,
                    "iterations": int(k),
                    "size": int(size),
                    "temp_bytes_ours": mem_ours,
                    "temp_bytes_anchor": mem_anchor,
                    "memory_ratio": None if not mem_ours or mem_anchor is None else mem_anchor / mem_ours,
                    "forward_residual": float(jnp.max(jnp.abs(_optimality(x_k, theta)))),
                    "memory_source": "XLA compiled memory_analysis().temp_size_in_bytes",
                }
            )
    return {
        "results": results,
        "problem": "x + 5 L x + x^3/3 = theta (1D, Dirichlet L), Richardson iterations, loss ||x_K||^2",
        "reference_residual": float(exact_residual),
        "device": jax.devices()[0].platform,
    }


def format_implicit_table(result: dict) -> str:
    """Render :func:`run_implicit_benchmark`'s result as an aligned text table."""
    header = ("name", "K", "ours_s", "unrolled_s", "ratio", "err_ours", "err_unrolled",
              "temp_MB_ours", "temp_MB_unrolled", "mem_ratio")
    rows = [header]
    for r in result["results"]:
        mb = lambda b: "-" if b is None else f"{b / 2**20:.2f}"  # noqa: E731
        rows.append((
            r["name"], str(r["iterations"]), f"{r['ours_s']:.2e}", f"{r['anchor_s']:.2e}", f"{r['ratio']:.2f}",
            f"{r['error_ours']:.1e}", f"{r['error_anchor']:.1e}", mb(r["temp_bytes_ours"]),
            mb(r["temp_bytes_anchor"]), "-" if r["memory_ratio"] is None else f"{r['memory_ratio']:.1f}",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.append("memory: " + result["results"][0]["memory_source"] if result["results"] else "")
    return "\n".join(lines)
