"""TENG vs TDVP / OBTI-Adam / PINN on the TENG problems (heat, Allen-Cahn, Burgers), float64.

The problems are the registry's ``teng-heat``, ``teng-allen-cahn`` and ``teng-burgers``
(``pdesolve.problems``: PDE, the paper's initial condition, reference and network); ``--problems``
takes their short names. ``heat-legacy``, ``allen-cahn-legacy``, ``burgers-legacy`` are the
former problems (u0 = 1/2 f(x) f(y), PeriodicMLP), which the recorded ``cpu`` results used.

    python experiments/teng.py --quick                      # seconds-to-minutes smoke run
    python experiments/teng.py --problems heat              # CPU configuration (heat)
    python experiments/teng.py --config paper               # paper scale (GPU)
    python experiments/teng.py --problems heat --methods teng --out results/teng_heat.json
    python experiments/teng.py --problems heat --set inner=6 error_every=10     # override config entries
    python experiments/teng.py --problems heat --methods teng --set early_steps=100 early_inner=8
    python experiments/teng.py --config cpu-legacy --problems heat-legacy   # the recorded legacy rows

Writes a JSON file with one record per (problem, method): relative L2 error at T, wall time,
configuration, and the error-vs-time curve. Prints a table. Set OMP_NUM_THREADS=1 on a shared
CPU (LAPACK thread oversubscription makes the SVDs several times slower).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse
import dataclasses
import json
import time
import warnings
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import diffrax
import jax.numpy as jnp

from pdesolve.bench import provenance, write_result_json  # noqa: E402
from pdesolve.neural_fields import (
    OBTI,
    PINN,
    TDVP,
    TENG,
    Heun,
    InnerSolveWarning,
    JVPJacobian,
    PointwiseJacobian,
    SpaceTimeMLP,
    build_network,
    field_equation,
    fit_initial_condition,
    parameter_count,
    teng_config,
)
from pdesolve.problems import FieldProblem, get

#: Configuration strings -> Diffrax solvers (``--set tdvp_solver=bosh3``) and TENG Jacobians.
TDVP_SOLVERS = {"euler": diffrax.Euler, "heun": diffrax.Heun, "midpoint": diffrax.Midpoint, "bosh3": diffrax.Bosh3,
                "tsit5": diffrax.Tsit5, "dopri5": diffrax.Dopri5}
JACOBIANS = {"rows": lambda chunk_size=None: PointwiseJacobian(chunk_size=chunk_size),
             "jvp": lambda chunk_size=None: JVPJacobian()}



def from_teng_config(name: str, **extra) -> dict:
    """Settings of the named :func:`teng_config` (the one home of the TENG configurations), plus
    the baselines' settings in ``extra``."""
    c = teng_config(name)
    return dict(n=c.collocation, hidden=(c.width,) * (c.depth - 2), subset=c.subset_size, dt=c.dt,
                inner=c.inner_iterations, tolerance=c.tolerance, rcond=c.rcond, chunk_size=c.chunk_size,
                ic_adam=c.ic_adam_steps, ic_lbfgs=c.ic_lbfgs_steps, ic_iters=c.ic_iterations,
                initial_fit=c.initial_fit, teng_config=name, final_time=4.0, error_every=None, early_steps=None,
                early_inner=None, max_minutes=None, **extra)


CONFIGS = {
    # "quick": a smoke run on tiny settings; "cpu-legacy": the settings of the recorded legacy rows
    # (PeriodicMLP problems *-legacy); "cpu", "paper": teng_config(...) plus the baselines' settings
    "quick": dict(n=16, hidden=(10, 10), subset=None, dt=0.02, inner=3, final_time=0.2, ic_adam=1000, ic_iters=50,
                  obti_iters=50, pinn_iters=300, pinn_batch=256, tolerance=1e-6, tdvp_dt=0.02),
    "cpu-legacy": dict(n=32, hidden=(20, 20, 20), subset=300, dt=0.01, inner=3, final_time=4.0, ic_adam=4000,
                       ic_iters=200, ic_lbfgs=20000, obti_iters=100, pinn_iters=4000, pinn_batch=1024, tolerance=1e-6,
                       tdvp_dt=0.01, tdvp_solver="heun"),  # Tsit5 at dt = 0.1 diverged on heat
    "cpu": from_teng_config("cpu", obti_iters=100, pinn_iters=4000, pinn_batch=1024, tdvp_dt=0.005,
                            tdvp_solver="heun"),
    "paper": from_teng_config("paper", obti_iters=500, pinn_iters=50000, pinn_batch=4096, tdvp_dt=0.005),
}


def run(problem_name: str, method: str, cfg: dict, seed: int = 0, progress: bool = True) -> dict:
    problem = get(f"teng-{problem_name}", FieldProblem)
    reference = problem.reference(min(problem.reference_resolution, 128) if cfg["n"] <= 32 else None)
    equation = field_equation(problem)
    pts, w = problem.collocation(cfg["n"])
    steps = int(round(cfg["final_time"] / cfg["dt"]))
    record = dict(problem=problem_name, method=method, final_time=cfg["final_time"], dt=cfg["dt"], steps=steps,
                  collocation=f"{cfg['n']}x{cfg['n']}")
    every = int(cfg.get("error_every") or max(1, steps // 20))
    start = time.perf_counter()
    if method == "pinn":
        key, init_key = jax.random.split(jax.random.PRNGKey(seed))
        g = SpaceTimeMLP(init_key, problem.ndim, cfg["hidden"][0], len(cfg["hidden"]), final_time=cfg["final_time"])
        solver = PINN(equation, problem.initial_condition, problem.lower, problem.upper, dt=cfg["dt"],
                      iterations=cfg["pinn_iters"], batch_size=cfg["pinn_batch"])
        result = solver.solve(g, steps, key=key, error_fn=reference.error, error_every=every)
        record.update(error=result.final_error, wall_s=time.perf_counter() - start, iterations=cfg["pinn_iters"],
                      times=result.times, errors=result.errors, max_step_residual=max(result.residuals))
        return record
    net = build_network(problem, jax.random.PRNGKey(seed), hidden=cfg["hidden"])
    record["parameters"] = parameter_count(net)
    config = teng_config(cfg["teng_config"]) if cfg.get("teng_config") else None
    shipped = None
    if config is not None and cfg.get("initial_fit"):
        config = dataclasses.replace(config, initial_fit=cfg["initial_fit"])
        shipped = config.shipped_initial_network(problem, net)
    if shipped is not None:
        net = shipped
        u0 = problem.initial_values(pts)
        ic_res = jnp.sqrt(jnp.sum(w * (jax.vmap(net)(pts) - u0) ** 2) / jnp.sum(w * u0**2))
        record["initial_fit"] = cfg["initial_fit"]
    else:
        net, ic_res = fit_initial_condition(net, problem.initial_values(pts), pts, w, adam_steps=cfg["ic_adam"],
                                            lbfgs_steps=cfg.get("ic_lbfgs", 0), iterations=cfg["ic_iters"],
                                            subset_size=cfg["subset"])
        record["initial_fit"] = "fitted"
    record["ic_s"] = time.perf_counter() - start
    record["ic_fit_residual"] = float(ic_res)
    record["ic_error"] = reference.error(net, 0.0)
    key = jax.random.PRNGKey(seed + 1)
    if method == "teng":
        if config is not None and "jacobian" not in cfg:
            jacobian = PointwiseJacobian(damping=None, rcond=cfg["rcond"], chunk_size=cfg["chunk_size"])
        else:
            jacobian = JACOBIANS[cfg.get("jacobian", "rows")](cfg.get("chunk_size"))
        def teng(inner):
            return TENG(equation, pts, w, dt=cfg["dt"], scheme=Heun(), subset_size=cfg["subset"],
                        max_inner_iterations=inner, tolerance=cfg["tolerance"], jacobian=jacobian)

        solver = teng(cfg["inner"])
        early = int(cfg.get("early_steps") or 0)
        if early:  # the first early_steps steps with early_inner projections per stage, then inner
            solver = EarlyThenLate(teng(int(cfg["early_inner"])), solver, early)
            record.update(early_steps=early, early_inner=int(cfg["early_inner"]))
    elif method == "obti":
        solver = OBTI(equation, pts, w, dt=cfg["dt"], scheme=Heun(), iterations=cfg["obti_iters"])
    elif method == "tdvp":
        adaptive = cfg.get("tdvp_adaptive", False)
        controller = (diffrax.PIDController(rtol=cfg.get("tdvp_rtol", 1e-6), atol=cfg.get("tdvp_atol", 1e-8))
                      if adaptive else diffrax.ConstantStepSize())
        solver = TDVP(equation, pts, w, dt=cfg["tdvp_dt"], solver=TDVP_SOLVERS[cfg.get("tdvp_solver", "tsit5")](),
                      stepsize_controller=controller, rcond=cfg.get("tdvp_rcond", 1e-10))
        steps = int(round(cfg["final_time"] / cfg["tdvp_dt"]))
        every = max(1, steps // 10)
    else:
        raise ValueError(method)
    budget = {} if cfg.get("max_minutes") is None else {"max_wall_s": 60 * float(cfg["max_minutes"])}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InnerSolveWarning)
        result = solver.solve(net, steps, key=key, error_fn=reference.error, error_every=every, progress=progress,
                              **budget)
    if method == "tdvp":
        record.update(tdvp_solver=cfg.get("tdvp_solver", "tsit5"), tdvp_dt=cfg["tdvp_dt"], tdvp_adaptive=adaptive,
                      tdvp_rcond=cfg.get("tdvp_rcond", 1e-10), tdvp_accepted_steps=sum(result.iterations))
    record.update(
        error=result.final_error,
        final_time_reached=result.final_time,
        stopped_early=result.stopped_early,
        wall_s=time.perf_counter() - start,
        march_s=result.wall_s,
        times=result.times,
        errors=result.errors,
        failed_steps=len(result.failed_steps),
        max_step_residual=max(result.residuals),
        stage_residuals=result.stage_residuals,
        inner_iterations=result.iterations,
        warnings=len(caught),
    )
    return record


class EarlyThenLate:
    """March ``first`` for ``early_steps`` steps, then ``then`` for the rest, as one result."""

    def __init__(self, first, then, early_steps: int):
        self.first, self.then, self.early_steps = first, then, early_steps

    def solve(self, net, num_steps, *, key, error_fn, error_every, progress, max_wall_s=None):
        if not 0 < self.early_steps < num_steps:
            raise ValueError(f"early_steps must be in (0, {num_steps}), got {self.early_steps}")
        k1, k2 = jax.random.split(key)
        a = self.first.solve(net, self.early_steps, key=k1, error_fn=error_fn, error_every=error_every,
                             progress=progress, max_wall_s=max_wall_s)
        if a.stopped_early:
            return a
        t0 = self.early_steps * self.first.dt
        left = None if max_wall_s is None else max(max_wall_s - a.wall_s, 1e-3)
        b = self.then.solve(a.state, num_steps - self.early_steps, key=k2, error_every=error_every,
                            error_fn=lambda state, t: error_fn(state, t + t0), progress=progress, max_wall_s=left)
        a.times += [t + t0 for t in b.times[1:]]
        a.errors += b.errors[1:]
        a.residuals += b.residuals
        a.stage_residuals += b.stage_residuals
        a.iterations += b.iterations
        a.failed_steps += [n + self.early_steps for n in b.failed_steps]
        a.wall_s += b.wall_s
        a.state = b.state
        a.final_time, a.stopped_early = t0 + b.final_time, b.stopped_early
        return a


def format_rows(records) -> str:
    head = f"{'problem':11s} {'method':6s} {'params':>6s} {'colloc':>7s} {'dt':>6s} {'t_end':>6s} {'error':>10s} {'ic_error':>9s} {'wall_s':>8s} {'failed':>6s}"
    lines = [head]
    for r in records:
        lines.append(
            f"{r['problem']:11s} {r['method']:6s} {str(r.get('parameters', '-')):>6s} {r['collocation']:>7s} "
            f"{r['dt']:6.3f} {r.get('final_time_reached', r['final_time']):6.3f} {r['error']:10.3e} {r.get('ic_error', float('nan')):9.2e} {r['wall_s']:8.1f} "
            f"{str(r.get('failed_steps', '-')):>6s}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=tuple(CONFIGS), default="cpu")
    parser.add_argument("--quick", action="store_true", help="same as --config quick")
    parser.add_argument("--problems", nargs="+", default=["heat", "allen-cahn", "burgers"],
                        help="short names: heat, allen-cahn, burgers (the paper's), or *-legacy (the former ones)")
    parser.add_argument("--methods", nargs="+", default=["teng", "tdvp", "obti", "pinn"])
    parser.add_argument("--final-time", type=float, default=None, help="override T")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override configuration entries, e.g. --set dt=0.005 ic_lbfgs=20000 tdvp_solver=bosh3")
    parser.add_argument("--out", default=None, help="JSON output (default experiments/results/teng_<config>.json)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    name = "quick" if args.quick else args.config
    cfg = dict(CONFIGS[name])
    if args.final_time is not None:
        cfg["final_time"] = args.final_time
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in cfg and not key.startswith("tdvp_"):
            parser.error(f"--set: unknown configuration key {key!r} (known: {sorted(cfg)})")
        try:
            cfg[key] = json.loads(value)
        except json.JSONDecodeError:
            cfg[key] = None if value in ("None", "none") else value
    started = provenance(args.seed)  # the commit the run started from, not the one at the end
    out = Path(args.out or f"experiments/results/teng_{name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    records = []
    device = f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}"
    for problem in args.problems:
        for method in args.methods:
            rec = run(problem, method, cfg, args.seed, progress=not args.no_progress)
            rec["config"] = name
            records.append(rec)
            print(format_rows([rec]).splitlines()[1], flush=True)
            write_result_json(out, {**started, "date": provenance(args.seed)["date"], "config": name, "device": device,
                                    "settings": dict(cfg), "results": records}, seed=args.seed)
    print(format_rows(records))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
