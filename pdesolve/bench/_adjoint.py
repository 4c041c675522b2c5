r"""``pdesolve bench adjoint``: time, memory and accuracy of the three neural-ODE adjoints.

Problems (float64, periodic grid of $n$ points on $[0, 2\pi)$): $\dot y = f_\theta(y)$,
loss $\tfrac12\|y(T) - y_\star\|^2$ with $T = 1$, gradient with respect to
$\theta = (\theta_0, \theta_1)$.

- ``advection`` (linear, non-dissipative): $f = \theta_0 D y + \theta_1 R y$, with $D$ the
  central first difference (skew-symmetric) and $R$ a fixed random skew-symmetric matrix;
  every mode keeps its amplitude, so the backward solve of the continuous adjoint is well
  posed. Reference gradient: $\nabla_\theta$ of the loss of $y(T) = e^{T A(\theta)} y_0$
  (``jax.scipy.linalg.expm``), independent of any ODE solver.
- ``burgers`` (nonlinear, dissipative): semi-discrete viscous Burgers
  $f = \theta_0 L y - \theta_1 D(y^2/2)$, with $L$ the second difference and $\theta_0$ chosen
  so the fastest linear mode decays by $e^{-36}$ over $[0, T]$. Integrating $y$ backwards
  from $T$, as the continuous (backsolve) adjoint does, is anti-diffusive: rounding and
  truncation errors in the fast modes grow by up to $e^{36}$ and the nonlinearity feeds them
  into the gradient. Reference gradient: Dopri8 at ``rtol = atol = 1e-13``, differentiated
  with the checkpointed adjoint.

Each problem is solved with $N$ constant Tsit5 steps ($N$ = 100, 1000, 10000 by default) and
differentiated with each Diffrax adjoint a :class:`pdesolve.neural_ode.NeuralODE` takes, named
here as in the result rows (:data:`ADJOINT_NAMES`): the *anchor* is the default
``recursive-checkpoint`` (:class:`diffrax.RecursiveCheckpointAdjoint`: exact gradient of the
discrete solve, $O(\log N)$ checkpoints); ``backsolve`` (:class:`diffrax.BacksolveAdjoint`:
continuous adjoint, $O(1)$ memory) and ``direct`` (:class:`diffrax.DirectAdjoint`: stores every
step) are compared against it row by row.

Reported per row: wall time of one ``value_and_grad`` after compilation (best of `repeats`),
relative gradient error against the reference, and memory. **Memory** is XLA's compile-time
``memory_analysis().temp_size_in_bytes`` of the jitted ``value_and_grad`` (scratch buffers of
the whole forward + backward computation, i.e. the peak working set beyond inputs and
outputs). On CPU this stands in for peak device memory: unlike a process's peak RSS it is
not polluted by the compiler, the Python heap or other runs in the same process.
"""

from __future__ import annotations

import functools

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._compat import enable_x64
from .._errors import InvalidInputError
from ._timing import best_time

PROBLEMS = ("advection", "burgers")
#: Benchmark row names of the Diffrax adjoints; the first is the anchor the others are compared with.
ADJOINT_NAMES = {
    "recursive-checkpoint": diffrax.RecursiveCheckpointAdjoint,
    "backsolve": diffrax.BacksolveAdjoint,
    "direct": diffrax.DirectAdjoint,
}
_ADJOINTS = ("backsolve", "direct")  # compared against the recursive-checkpoint anchor
_T = 1.0
_DIFFUSIVE_DECAY = 36.0  # lambda_max * T of the viscous term of the Burgers problem


@functools.lru_cache(maxsize=8)
def _matrices(n: int):
    h = 2 * np.pi / n
    eye = np.eye(n)
    shift = np.roll(eye, 1, axis=1)  # (S y)_i = y_{i+1}
    first = (shift - shift.T) / (2 * h)
    second = (shift + shift.T - 2 * eye) / h**2
    rng = np.random.default_rng(0)
    g = rng.standard_normal((n, n))
    skew = (g - g.T) / np.sqrt(2 * n)  # spectral radius O(1)
    return first, second, skew


class _Field(eqx.Module):
    r"""$f(y) = \theta_0 A y + \theta_1 B(y)$; the matrices are trace-time constants, not leaves."""

    theta: jax.Array
    problem: str = eqx.field(static=True)
    size: int = eqx.field(static=True)

    def __call__(self, t, y, args):
        first, second, skew = _matrices(self.size)
        if self.problem == "advection":
            return self.theta[0] * (first @ y) + self.theta[1] * (skew @ y)
        # viscous Burgers: nu y_xx - (y^2 / 2)_x
        return self.theta[0] * (second @ y) - self.theta[1] * (first @ (0.5 * y * y))


def _problem(name: str, n: int):
    if name not in PROBLEMS:
        raise InvalidInputError(f"unknown adjoint benchmark problem {name!r}; choose from {', '.join(PROBLEMS)}")
    x = jnp.arange(n) * (2 * np.pi / n)
    y0 = jnp.exp(jnp.sin(x)) + 0.3 * jnp.cos(3 * x) + 0.1 * jnp.sin(7 * x) - 1.2
    target = jnp.cos(x + 0.5)
    if name == "advection":
        theta = jnp.asarray([1.0, 0.5])
    else:
        h = 2 * np.pi / n
        theta = jnp.asarray([_DIFFUSIVE_DECAY * h**2 / (4 * _T), 1.0])
    return theta, y0, target


def _loss(y_final, target):
    return 0.5 * jnp.sum((y_final - target) ** 2)


def _solve_loss(theta, problem, y0, target, num_steps: int, adjoint: diffrax.AbstractAdjoint):
    from ..neural_ode import NeuralODE

    model = NeuralODE(
        _Field(theta, problem, y0.shape[0]), adjoint=adjoint, dt0=_T / num_steps, adaptive=False,
        max_steps=num_steps,
    )
    return _loss(model.solve(y0, jnp.asarray([0.0, _T])).ys[-1], target)


def _reference_gradient(theta, problem, y0, target):
    """Exact gradient: through expm for the linear problem, else Dopri8 at rtol = atol = 1e-13."""
    if problem == "advection":
        first, _, skew = _matrices(y0.shape[0])

        def exact(th):
            return _loss(jax.scipy.linalg.expm(_T * (th[0] * first + th[1] * skew)) @ y0, target)

        return jax.jit(jax.grad(exact))(theta)

    def fine(th):
        solution = diffrax.diffeqsolve(
            diffrax.ODETerm(_Field(th, problem, y0.shape[0])), diffrax.Dopri8(), 0.0, _T, None, y0,
            stepsize_controller=diffrax.PIDController(rtol=1e-13, atol=1e-13), max_steps=100_000,
        )
        return _loss(solution.ys[-1], target)

    return jax.jit(jax.grad(fine))(theta)


def _compile(fn, arg):
    """Compile `fn` once; return the executable and its XLA temp memory (``None`` if unavailable)."""
    compiled = jax.jit(fn).lower(arg).compile()
    try:
        memory = int(compiled.memory_analysis().temp_size_in_bytes)
    except Exception:  # pragma: no cover - backends without memory analysis
        memory = None
    return compiled, memory


def _relative(g, ref):
    """Relative error, or ``None`` when the gradient is not finite (a diverged backward solve)."""
    error = float(jnp.linalg.norm(g - ref) / jnp.linalg.norm(ref))
    return error if np.isfinite(error) else None


def run_adjoint_benchmark(
    steps: tuple[int, ...] = (100, 1000, 10000),
    size: int = 64,
    problems: tuple[str, ...] = PROBLEMS,
    adjoints: tuple[str, ...] = _ADJOINTS,
    repeats: int = 3,
    quick: bool = False,
    progress=None,
) -> dict:
    """Time, memory and gradient error of each neural-ODE adjoint; returns ``{"results": [...]}``.

    **Arguments:**

    - `steps`: numbers of constant Tsit5 steps $N$.
    - `size`: state dimension $n$ (grid points).
    - `problems`: subset of ``("advection", "burgers")``.
    - `adjoints`: which of ``("backsolve", "direct")`` to compare with the recursive-checkpoint anchor.
    - `repeats`: timed gradient evaluations per entry (best kept).
    - `quick`: tiny sizes (``steps=(10, 100)``, ``size=16``, one repeat) for a smoke test.
    - `progress`: optional callable receiving one-line progress messages.

    Each result has the documented keys ``name, ours_s, anchor ("recursive-checkpoint"),
    anchor_s, ratio (= anchor_s / ours_s), error_ours, error_anchor`` (relative gradient errors
    against the reference gradient; ``null`` when the gradient came out NaN/Inf, as the
    backsolve adjoint's can on the dissipative problem) plus ``problem``, ``adjoint``, ``steps``,
    ``size``, ``temp_bytes_ours``, ``temp_bytes_anchor``, ``memory_ratio`` (anchor / ours) and
    ``memory_source``.
    """
    if quick:
        steps, size, repeats = (10, 100), 16, 1
    steps = tuple(int(s) for s in steps)
    if not steps or any(s < 1 for s in steps):
        raise InvalidInputError(f"steps must be positive integers, got {steps}")
    if isinstance(size, bool) or int(size) != size or size < 4:
        raise InvalidInputError(f"size must be an integer >= 4, got {size!r}")
    for p in problems:
        if p not in PROBLEMS:
            raise InvalidInputError(f"unknown adjoint benchmark problem {p!r}; choose from {', '.join(PROBLEMS)}")
    for a in adjoints:
        if a not in _ADJOINTS:
            raise InvalidInputError(f"unknown adjoint {a!r} to compare; choose from {', '.join(_ADJOINTS)}")
    say = progress or (lambda msg: None)
    results = []
    with enable_x64(True):
        for problem in problems:
            theta, y0, target = _problem(problem, size)
            reference = _reference_gradient(theta, problem, y0, target)
            for n in steps:
                timings = {}
                for adjoint in ("recursive-checkpoint",) + tuple(adjoints):
                    say(f"{problem} N={n} {adjoint}")

                    def loss(th, adjoint=ADJOINT_NAMES[adjoint](), n=n, problem=problem):
                        return _solve_loss(th, problem, y0, target, n, adjoint)

                    compiled, memory = _compile(jax.value_and_grad(loss), theta)
                    seconds, (_, grad) = best_time(compiled, theta, repeats)
                    timings[adjoint] = (seconds, _relative(grad, reference), memory)
                anchor_s, anchor_err, anchor_mem = timings["recursive-checkpoint"]
                for adjoint in adjoints:
                    ours_s, ours_err, ours_mem = timings[adjoint]
                    results.append(
                        {
                            "name": f"{problem}_n{size}_N{n}_{adjoint}",
                            "problem": problem,
                            "adjoint": adjoint,
                            "steps": n,
                            "size": int(size),
                            "ours_s": ours_s,
                            "anchor": "recursive-checkpoint",
                            "anchor_s": anchor_s,
                            "ratio": anchor_s / ours_s,
                            "error_ours": ours_err,
                            "error_anchor": anchor_err,
                            "temp_bytes_ours": ours_mem,
                            "temp_bytes_anchor": anchor_mem,
                            "memory_ratio": None if not ours_mem or anchor_mem is None else anchor_mem / ours_mem,
                            "memory_source": "XLA compiled memory_analysis().temp_size_in_bytes",
                        }
                    )
    return {
        "results": results,
        "problem": "dy/dt = f_theta(y) on a periodic grid (advection: linear skew; burgers: viscous, dissipative), "
        "loss 0.5||y(T) - y*||^2, constant-step Tsit5; reference gradient via expm (advection) or Dopri8 "
        "rtol=1e-13 (burgers)",
        "device": jax.devices()[0].platform,
        "diffrax_version": diffrax.__version__,
    }


def format_adjoint_table(result: dict) -> str:
    """Render :func:`run_adjoint_benchmark`'s result as an aligned text table."""
    header = ("problem", "N", "adjoint", "ours_s", "ckpt_s", "ratio", "grad_err", "ckpt_grad_err",
              "temp_MB", "ckpt_temp_MB")
    rows = [header]
    mb = lambda b: "-" if b is None else f"{b / 2**20:.3f}"  # noqa: E731
    err = lambda e: "non-finite" if e is None else f"{e:.1e}"  # noqa: E731
    for r in result["results"]:
        rows.append((
            r["problem"], str(r["steps"]), r["adjoint"], f"{r['ours_s']:.2e}", f"{r['anchor_s']:.2e}",
            f"{r['ratio']:.2f}", err(r["error_ours"]), err(r["error_anchor"]),
            mb(r["temp_bytes_ours"]), mb(r["temp_bytes_anchor"]),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.append("ckpt = recursive-checkpoint adjoint (the anchor); ratio = ckpt_s / ours_s; grad_err relative to the reference gradient")
    if result["results"]:
        lines.append("memory: " + result["results"][0]["memory_source"])
    return "\n".join(lines)
