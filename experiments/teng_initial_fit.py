"""Fit a TENG network to the paper's initial condition (``teng-heat``) to <= 1e-7 relative L2.

Adam warm-up, then Levenberg-Marquardt with geodesic acceleration (``pdesolve.optim``) on the
full Jacobian (or on random parameter subsets with ``--subset``), float64, on the uniform
N x N grid of [0, 2pi)^2. The error is reported on the fit grid and on the 2N x 2N grid.

    python experiments/teng_initial_fit.py --size cpu --max-minutes 25
    python experiments/teng_initial_fit.py --size paper --subset 2048        # GPU

Writes the network to ``pdesolve/neural_fields/data/teng_initial_<size>.npz`` (load it with
``pdesolve.neural_fields.load_fitted_network("teng_initial_<size>")``) and a results JSON with
the error-vs-iteration curve.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

from pdesolve import problems  # noqa: E402
from pdesolve.bench import provenance, write_result_json  # noqa: E402
from pdesolve.linalg import pointwise_jacobian  # noqa: E402
from pdesolve.neural_fields import TENGNetwork, save_fitted_network  # noqa: E402
from pdesolve.optim import GeodesicAcceleration, adam, apply_updates, levenberg_marquardt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: Network and fit sizes. cpu: the 1,297-parameter network of the CPU configuration on 48^2
#: points; paper: the paper's network (width 40, depth 7, 8,361 parameters) on 128^2 points.
SIZES = {
    "cpu": dict(width=24, depth=4, points=48, adam_steps=3000, lm_steps=3000, subset=None),
    "paper": dict(width=40, depth=7, points=128, adam_steps=20000, lm_steps=20000, subset=2048),
}


def relative_l2(net, points, target):
    return float(jnp.linalg.norm(jax.vmap(net)(points) - target) / jnp.linalg.norm(target))


def fit(net, points, target, *, adam_steps, lm_steps, subset=None, learning_rate=3e-3, seed=0,
        max_seconds=float("inf"), goal=0.0, chunk_size=None, increase=2.0, decrease=1 / 3, log=print):
    """Adam, then geodesic LM on ``||u_theta(points) - target||``. Returns ``(net, curve)``,
    ``curve`` a list of ``(iteration, seconds, relative residual, damping)``."""
    x, unravel = ravel_pytree(net)
    scale = jnp.linalg.norm(target)

    def residual(theta):
        return jax.vmap(unravel(theta))(points) - target

    schedule = lambda i: learning_rate * (0.01 + 0.99 * 0.5 * (1 + jnp.cos(jnp.pi * i / adam_steps)))  # noqa: E731
    tx = adam(schedule)

    @jax.jit
    def warm_up(theta):
        def body(carry, _):
            theta, state = carry
            grad = jax.grad(lambda t: jnp.mean(residual(t) ** 2))(theta)
            updates, state = tx.update(grad, state, theta)
            return (apply_updates(theta, updates), state), None

        return jax.lax.scan(body, (theta, tx.init(theta)), None, length=adam_steps)[0][0]

    start = time.perf_counter()
    if adam_steps:
        x = warm_up(x)
    curve = [(0, time.perf_counter() - start, float(jnp.linalg.norm(residual(x)) / scale), None)]
    log(f"adam {adam_steps} steps: relative residual {curve[0][2]:.3e} ({curve[0][1]:.0f} s)")

    lm = levenberg_marquardt(initial_damping=1e-3, increase=increase, decrease=decrease,
                             acceleration=GeodesicAcceleration())

    @jax.jit
    def lm_step(theta, state, idx):
        def sub_residual(z):
            return residual(theta.at[idx].set(z))

        def sub_jacobian(z):
            return pointwise_jacobian(lambda q, y: unravel(theta.at[idx].set(q))(y), z, points, chunk_size=chunk_size)

        z = theta[idx]
        update, state = lm.update(z, state, z, residual_fn=sub_residual, jacobian_fn=sub_jacobian)
        return theta.at[idx].add(update), state

    state = lm.init(x)
    key = jax.random.PRNGKey(seed)
    every_index = jnp.arange(x.size)
    for it in range(1, lm_steps + 1):
        key, sub = jax.random.split(key)
        idx = every_index if subset is None else jnp.sort(jax.random.choice(sub, x.size, (subset,), replace=False))
        x, state = lm_step(x, state, idx)
        rel = float(state.residual_norm / scale)
        curve.append((it, time.perf_counter() - start, rel, float(state.damping)))
        if it % 10 == 0 or it == lm_steps:
            log(f"lm {it}: relative residual {rel:.3e}, damping {float(state.damping):.1e} ({curve[-1][1]:.0f} s)")
        if rel <= goal or curve[-1][1] > max_seconds:
            break
    return unravel(x), curve


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="cpu")
    parser.add_argument("--points", type=int, help="fit grid N (N x N points); default per size")
    parser.add_argument("--adam-steps", type=int)
    parser.add_argument("--lm-steps", type=int)
    parser.add_argument("--subset", type=int, help="random parameter subset per LM step (default per size)")
    parser.add_argument("--full", action="store_true", help="full Jacobian even where the size uses subsets")
    parser.add_argument("--goal", type=float, default=5e-8, help="stop LM at this relative residual")
    parser.add_argument("--max-minutes", type=float, default=float("inf"))
    parser.add_argument("--chunk-size", type=int, help="points per Jacobian chunk (bounds memory)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--network-out", type=Path, help="default pdesolve/neural_fields/data/teng_initial_<size>.npz")
    parser.add_argument("--out", type=Path, help="results JSON (default experiments/results/teng_initial_fit_<size>.json)")
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    n = args.points or size["points"]
    subset = None if args.full else (args.subset or size["subset"])

    problem = problems.get("teng-heat")
    points, _ = problems.grid_points(n)
    fine, _ = problems.grid_points(2 * n)
    target, fine_target = problem.initial_values(points), problem.initial_values(fine)
    net = TENGNetwork(jax.random.PRNGKey(args.seed), 2, size["width"], size["depth"])
    num_params = ravel_pytree(net)[0].size
    print(f"{args.size}: {num_params} parameters, {n}^2 fit points, subset {subset}")

    start = time.perf_counter()
    net, curve = fit(net, points, target, adam_steps=args.adam_steps if args.adam_steps is not None else size["adam_steps"],
                     lm_steps=args.lm_steps or size["lm_steps"], subset=subset, seed=args.seed,
                     max_seconds=60 * args.max_minutes, goal=args.goal, chunk_size=args.chunk_size)
    wall = time.perf_counter() - start
    fit_error, fine_error = relative_l2(net, points, target), relative_l2(net, fine, fine_target)
    print(f"relative L2: {fit_error:.3e} on {n}^2, {fine_error:.3e} on {2 * n}^2; {wall:.0f} s")

    argv = list(sys.argv if argv is None else ["experiments/teng_initial_fit.py", *argv])
    command = provenance(args.seed, argv)["command"]
    summary = dict(problem="teng-heat", size=args.size, parameters=num_params, width=size["width"], depth=size["depth"],
                   fit_points=n, evaluation_points=2 * n, subset=subset, relative_l2_fit=fit_error,
                   relative_l2_fine=fine_error, lm_iterations=curve[-1][0], wall_s=wall,
                   device=f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}")
    network_out = args.network_out or ROOT / "pdesolve" / "neural_fields" / "data" / f"teng_initial_{args.size}.npz"
    save_fitted_network(network_out, net, command=command, seed=args.seed, **summary)
    out = args.out or ROOT / "experiments" / "results" / f"teng_initial_fit_{args.size}.json"
    write_result_json(out, dict(summary, network_file=network_out.name,
                                curve=[dict(iteration=i, seconds=s, relative_residual=r, damping=d) for i, s, r, d in curve]),
                      seed=args.seed, argv=argv)
    print(f"wrote {network_out} and {out}")


if __name__ == "__main__":
    main()
