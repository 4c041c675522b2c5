"""``pdesolve bench optim``: every optimizer on the same small problems, relative to optax.adam.

Problems (float64, fixed seeds):

- ``pinn_poisson_1d``: a tanh MLP (1-16-16-1, 321 parameters) fits $u'' = -\\pi^2\\sin(\\pi x)$ on
  $(0, 1)$ with $u(0) = u(1) = 0$ (exact $u = \\sin\\pi x$) from 64 interior collocation points;
  the loss is the mean squared PDE residual plus the mean squared boundary residual.
- ``fno_heat_1d``: an FNO (width 8, 6 modes, 2 layers) learns the 1D heat solution operator
  $u_0 \\mapsto u(T)$ ($\\nu = 0.05$, $T = 1$, 32 points) from 32 random smooth initial
  conditions solved by pdesolve's exact ETDRK stepper; the loss is the mean squared error.

Each optimizer runs a fixed number of steps in one jitted `lax.scan`; we record the loss after
every step, the steps to reach the problem's target loss, the wall time per step (after
compilation), and the final error (relative $L^2$ of the PINN solution against $\\sin\\pi x$, or
of the FNO's prediction on 16 held-out samples). ``ratio`` is ``anchor_s / ours_s`` for the wall
time to the target (> 1: faster than optax.adam); ``None`` if either side missed the target.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._compat import enable_x64
from .._errors import InvalidInputError


@dataclass
class _Problem:
    name: str
    params: object
    loss_fn: Callable
    residual_fn: Callable | None
    per_loss_fn: Callable | None
    error_fn: Callable
    target: float
    num_steps: int
    learning_rate: float


def _mlp_init(key, sizes):
    params = []
    for k, (fan_in, fan_out) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
        w = jax.random.normal(k, (fan_out, fan_in), jnp.float64) * jnp.sqrt(1.0 / fan_in)
        params.append({"w": w, "b": jnp.zeros(fan_out, jnp.float64)})
    return params


def _mlp(params, x):
    h = jnp.atleast_1d(x)
    for layer in params[:-1]:
        h = jnp.tanh(layer["w"] @ h + layer["b"])
    return (params[-1]["w"] @ h + params[-1]["b"])[0]


def _pinn_problem(num_steps: int) -> _Problem:
    x = (jnp.arange(64, dtype=jnp.float64) + 0.5) / 64
    boundary = jnp.asarray([0.0, 1.0])
    forcing = -(jnp.pi**2) * jnp.sin(jnp.pi * x)
    x_test = jnp.linspace(0.0, 1.0, 201)

    def interior_residual(params):
        u_xx = jax.vmap(jax.grad(jax.grad(lambda s: _mlp(params, s))))(x)
        return (u_xx - forcing) / jnp.sqrt(x.size)

    def boundary_residual(params):
        return jax.vmap(lambda s: _mlp(params, s))(boundary) / jnp.sqrt(boundary.size)

    def residual_fn(params):
        return jnp.concatenate([interior_residual(params), boundary_residual(params)])

    def per_loss_fn(params):
        return jnp.stack([jnp.sum(interior_residual(params) ** 2), jnp.sum(boundary_residual(params) ** 2)])

    def error_fn(params):
        u = jax.vmap(lambda s: _mlp(params, s))(x_test)
        exact = jnp.sin(jnp.pi * x_test)
        return jnp.linalg.norm(u - exact) / jnp.linalg.norm(exact)

    return _Problem(
        "pinn_poisson_1d", _mlp_init(jax.random.PRNGKey(0), [1, 16, 16, 1]),
        lambda p: jnp.sum(residual_fn(p) ** 2), residual_fn, per_loss_fn, error_fn,
        target=1e-4, num_steps=num_steps, learning_rate=1e-2,
    )


def _fno_problem(num_steps: int) -> _Problem:
    from ..initial_conditions import random_fourier_series
    from ..integrators import ETDRK4, advance
    from ..operators import FNO
    from ..pdes import Heat
    from ..spatial import PeriodicGrid

    grid = PeriodicGrid(32, ndim=1, dtype=jnp.float64)
    stepper = ETDRK4(Heat(grid, 0.05), 0.25)
    keys = jax.random.split(jax.random.PRNGKey(1), 48)
    u0 = jnp.stack([random_fourier_series(k, grid, max_mode=5) for k in keys])
    u1 = jax.vmap(lambda u: advance(stepper, u, 4, check_finite=False))(u0)
    train_x, train_y, test_x, test_y = u0[:32], u1[:32], u0[32:], u1[32:]
    model = FNO(1, 1, ndim=1, width=8, modes=6, num_layers=2, projection_width=16, key=jax.random.PRNGKey(2))
    model = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, model)
    params, static = eqx.partition(model, eqx.is_inexact_array)

    def predict(p, xs):
        return jax.vmap(eqx.combine(p, static))(xs)

    def residual_fn(p):
        return ((predict(p, train_x) - train_y) / jnp.sqrt(train_y.size)).ravel()

    def error_fn(p):
        return jnp.linalg.norm(predict(p, test_x) - test_y) / jnp.linalg.norm(test_y)

    return _Problem(
        "fno_heat_1d", params, lambda p: jnp.sum(residual_fn(p) ** 2), residual_fn, None, error_fn,
        target=1e-6, num_steps=num_steps, learning_rate=3e-3,
    )


@dataclass
class _Entry:
    name: str
    source: str
    make: Callable[[float], optax.GradientTransformation]
    kind: str = "gradient"  # gradient | value_fn | residual_fn | multi_loss
    lr_scale: float = 1.0


def _entries() -> list[_Entry]:
    try:
        from .. import optim
    except ImportError:  # pragma: no cover - only while the optim package is incomplete
        optim = None

    entries = [_Entry("adam", "optax", lambda lr: optax.adam(lr))]
    first_order = [
        ("adamw", "optax", lambda lr: optax.adamw(lr, weight_decay=1e-4), 1.0),
        ("lion", "optax", lambda lr: optax.lion(lr), 0.1),
        ("adabelief", "optax", lambda lr: optax.adabelief(lr), 1.0),
        ("adan", "optax", lambda lr: optax.adan(lr), 1.0),
    ]
    for name, source, make, scale in first_order:
        entries.append(_Entry(name, source, make, lr_scale=scale))
    ours = ["diffgrad", "adamp", "adabound", "amsbound", "adamod", "exadam", "mars"]
    for name in ours:
        factory = getattr(optim, name, None) if optim else None
        if factory is not None:
            entries.append(_Entry(name, "pdesolve", lambda lr, f=factory: f(lr)))
    if optim is not None and getattr(optim, "adahessian", None) is not None:
        entries.append(_Entry("adahessian", "pdesolve", lambda lr: optim.adahessian(lr), kind="value_fn", lr_scale=10.0))
    if optim is not None:
        # Undamped Gauss-Newton diverges from these random starts (PINN loss 49 after 300 steps),
        # so the benchmark uses a small fixed damping; LM adapts its own.
        entries.append(_Entry("gauss_newton", "pdesolve", lambda lr: optim.gauss_newton(damping=1e-3), kind="residual_fn"))
        entries.append(_Entry("levenberg_marquardt", "pdesolve", lambda lr: optim.levenberg_marquardt(), kind="residual_fn"))
        entries.append(_Entry("energy_natural_gradient", "pdesolve", lambda lr: optim.energy_natural_gradient(), kind="residual_fn"))
    for name in ("config", "upgrad"):
        factory = getattr(optim, name, None) if optim else None
        if factory is not None:
            entries.append(_Entry(name, "pdesolve", lambda lr, f=factory: f(lr), kind="multi_loss"))
    return entries


def _run(entry: _Entry, problem: _Problem, num_steps: int):
    tx = entry.make(problem.learning_rate * entry.lr_scale)
    extra: dict = {}

    def step(carry, key):
        params, state = carry
        if entry.kind == "multi_loss":
            grads = jax.jacrev(problem.per_loss_fn)(params)
        else:
            grads = jax.grad(problem.loss_fn)(params)
        if entry.kind == "value_fn":
            extra_args = {"value_fn": problem.loss_fn, "key": key}
        elif entry.kind == "residual_fn":
            extra_args = {"residual_fn": problem.residual_fn}
        else:
            extra_args = {}
        updates, state = tx.update(grads, state, params, **extra_args)
        params = optax.apply_updates(params, updates)
        return (params, state), problem.loss_fn(params)

    @jax.jit
    def run(params):
        state = tx.init(params)
        keys = jax.random.split(jax.random.PRNGKey(0), num_steps)
        (params, _), losses = jax.lax.scan(step, (params, state), keys)
        return params, losses

    jax.block_until_ready(run(problem.params))  # compile
    start = time.perf_counter()
    params, losses = jax.block_until_ready(run(problem.params))
    wall = time.perf_counter() - start
    losses = np.asarray(losses)
    hit = np.nonzero(losses <= problem.target)[0]
    steps_to_target = int(hit[0]) + 1 if hit.size else None
    return {
        "steps_to_target": steps_to_target,
        "seconds_per_step": wall / num_steps,
        "time_to_target_s": None if steps_to_target is None else wall / num_steps * steps_to_target,
        "final_loss": float(losses[-1]) if np.isfinite(losses[-1]) else float("nan"),
        "final_error": float(problem.error_fn(params)),
        "extra": extra,
    }


PROBLEMS = ("pinn_poisson_1d", "fno_heat_1d")


def run_optim_benchmark(*, quick: bool = False, optimizers=None, problems=None, progress=None) -> dict:
    """Run every optimizer on every problem; returns ``{"results": [...], ...}``.

    Each result has the bench keys ``name, ours_s, anchor, anchor_s, ratio, error_ours,
    error_anchor`` (times are wall time to the target loss) plus ``steps_to_target``,
    ``anchor_steps_to_target``, ``steps_ratio`` (anchor steps / ours), ``final_loss``,
    ``seconds_per_step``. `quick` cuts the step budget for smoke tests; `problems` picks a
    subset of :data:`PROBLEMS` (default: all).
    """
    names = PROBLEMS if problems is None else tuple(problems)
    unknown = sorted(set(names) - set(PROBLEMS))
    if unknown:
        raise InvalidInputError(f"unknown benchmark problem(s) {unknown}; choose from {list(PROBLEMS)}")
    with enable_x64(True):
        num_steps = {"pinn_poisson_1d": 60 if quick else 3000, "fno_heat_1d": 30 if quick else 1500}
        builders = {"pinn_poisson_1d": _pinn_problem, "fno_heat_1d": _fno_problem}
        problems = [builders[name](num_steps[name]) for name in names]
        entries = _entries()
        if optimizers is not None:
            entries = [e for e in entries if e.name in set(optimizers) | {"adam"}]
        results = []
        for problem in problems:
            anchor = None
            for entry in entries:
                if entry.kind == "multi_loss" and problem.per_loss_fn is None:
                    continue
                if entry.kind == "residual_fn" and problem.name == "fno_heat_1d" and entry.name != "gauss_newton":
                    continue
                if progress:
                    progress(f"{problem.name}: {entry.name}")
                steps = problem.num_steps // (10 if entry.kind == "residual_fn" else 1)
                out = _run(entry, problem, max(steps, 5))
                if entry.name == "adam":
                    anchor = out
                ours_t, anchor_t = out["time_to_target_s"], anchor["time_to_target_s"]
                results.append({
                    "name": f"{problem.name}/{entry.name}",
                    "problem": problem.name,
                    "optimizer": entry.name,
                    "source": entry.source,
                    "learning_rate": None if entry.kind == "residual_fn" else problem.learning_rate * entry.lr_scale,
                    "target_loss": problem.target,
                    "num_steps": max(steps, 5),
                    "ours_s": ours_t,
                    "anchor": "optax.adam",
                    "anchor_s": anchor_t,
                    "ratio": None if (ours_t is None or anchor_t is None) else anchor_t / ours_t,
                    "steps_to_target": out["steps_to_target"],
                    "anchor_steps_to_target": anchor["steps_to_target"],
                    "steps_ratio": None if (out["steps_to_target"] is None or anchor["steps_to_target"] is None)
                    else anchor["steps_to_target"] / out["steps_to_target"],
                    "seconds_per_step": out["seconds_per_step"],
                    "final_loss": out["final_loss"],
                    "error_ours": out["final_error"],
                    "error_anchor": anchor["final_error"],
                })
        return {"results": results, "device": jax.devices()[0].platform, "dtype": "float64"}


def format_optim_table(result: dict) -> str:
    """Text table of :func:`run_optim_benchmark` results."""
    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    header = f"{'problem/optimizer':36s} {'source':8s} {'steps':>6s} {'adam':>6s} {'t_target':>9s} {'ratio':>6s} {'final_loss':>10s} {'error':>9s} {'adam_err':>9s}"
    lines = [header, "-" * len(header)]
    for r in result["results"]:
        lines.append(
            f"{r['name']:36s} {r['source']:8s} {fmt(r['steps_to_target'], 'd'):>6s} {fmt(r['anchor_steps_to_target'], 'd'):>6s} "
            f"{fmt(r['ours_s'], '.3g'):>9s} {fmt(r['ratio'], '.2f'):>6s} {r['final_loss']:10.2e} {r['error_ours']:9.2e} {r['error_anchor']:9.2e}"
        )
    lines.append("")
    lines.append("steps: steps to the target loss (- = not reached in the budget); t_target: wall seconds to the target; "
                 "ratio = adam_t / t (> 1: faster than optax.adam)")
    return "\n".join(lines)
