"""TENG vs TDVP / OBTI-Adam / PINN on the TENG problems (heat, Allen-Cahn, Burgers), float64.

    python experiments/teng.py --quick                      # seconds-to-minutes smoke run
    python experiments/teng.py --problems heat              # CPU configuration (heat)
    python experiments/teng.py --config paper               # paper scale (GPU)
    python experiments/teng.py --problems heat --methods teng --out results/teng_heat.json
    python experiments/teng.py --problems heat --set dt=0.005 ic_lbfgs=30000   # override config entries

Writes a JSON file with one record per (problem, method): relative L2 error at T, wall time,
configuration, and the error-vs-time curve. Prints a table. Set OMP_NUM_THREADS=1 on a shared
CPU (LAPACK thread oversubscription makes the SVDs several times slower).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import time
import warnings
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

from pdesolve.neural_fields import (
    OBTI,
    TENG,
    InnerSolveWarning,
    PeriodicMLP,
    fit_initial_condition,
    grid_points,
    parameter_count,
    tdvp_solve,
    teng_initial_condition,
    teng_problem,
    train_pinn,
)

CONFIGS = {
    # collocation grid n x n, network widths, parameter subset, Heun dt, inner projections per stage
    "quick": dict(n=16, hidden=(10, 10), subset=None, dt=0.02, inner=3, final_time=0.2, ic_adam=1000, ic_iters=50,
                  obti_iters=50, pinn_iters=300, pinn_batch=256, tolerance=1e-6, tdvp_dt=0.02),
    "cpu": dict(n=32, hidden=(20, 20, 20), subset=300, dt=0.01, inner=3, final_time=4.0, ic_adam=4000, ic_iters=200,
                ic_lbfgs=20000, obti_iters=100, pinn_iters=4000, pinn_batch=1024, tolerance=1e-6, tdvp_dt=0.01,
                tdvp_solver="heun"),  # Tsit5 at dt = 0.1 diverged on heat
    "paper": dict(n=256, hidden=(40, 40, 40, 40), subset=1536, dt=0.005, inner=7, final_time=4.0, ic_adam=20000,
                  ic_iters=2000, obti_iters=500, pinn_iters=50000, pinn_batch=4096, tolerance=1e-9, jacobian="jvp", tdvp_dt=0.005),
}


def run(problem_name: str, method: str, cfg: dict, seed: int = 0, progress: bool = True) -> dict:
    problem = teng_problem(problem_name)
    if cfg["n"] <= 32:
        problem.reference_resolution = min(problem.reference_resolution, 128)
    pts, w = grid_points(cfg["n"])
    steps = int(round(cfg["final_time"] / cfg["dt"]))
    record = dict(problem=problem_name, method=method, final_time=cfg["final_time"], dt=cfg["dt"], steps=steps,
                  collocation=f"{cfg['n']}x{cfg['n']}")
    start = time.perf_counter()
    if method == "pinn":
        u, info = train_pinn(problem.equation, teng_initial_condition, final_time=cfg["final_time"],
                             iterations=cfg["pinn_iters"], batch_size=cfg["pinn_batch"], width=cfg["hidden"][0],
                             depth=len(cfg["hidden"]), error_fn=problem.error, key=jax.random.PRNGKey(seed))
        record.update(error=info["error"], wall_s=time.perf_counter() - start, iterations=cfg["pinn_iters"],
                      times=[cfg["final_time"]], errors=[info["error"]])
        return record
    net = PeriodicMLP(jax.random.PRNGKey(seed), 2, cfg["hidden"])
    record["parameters"] = parameter_count(net)
    net, ic_res = fit_initial_condition(net, teng_initial_condition(pts), pts, w, adam_steps=cfg["ic_adam"],
                                        lbfgs_steps=cfg.get("ic_lbfgs", 0), iterations=cfg["ic_iters"],
                                        subset_size=cfg["subset"])
    record["ic_s"] = time.perf_counter() - start
    record["ic_fit_residual"] = float(ic_res)
    record["ic_error"] = problem.error(net, 0.0)
    every = max(1, steps // 20)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InnerSolveWarning)
        if method == "teng":
            solver = TENG(problem.equation, pts, w, dt=cfg["dt"], scheme="heun", subset_size=cfg["subset"],
                          max_inner_iterations=cfg["inner"], tolerance=cfg["tolerance"],
                          jacobian=cfg.get("jacobian", "rows"))
            result = solver.solve(net, steps, error_fn=problem.error, error_every=every, progress=progress,
                                  key=jax.random.PRNGKey(seed + 1))
        elif method == "obti":
            solver = OBTI(problem.equation, pts, w, dt=cfg["dt"], scheme="heun", iterations=cfg["obti_iters"])
            result = solver.solve(net, steps, error_fn=problem.error, error_every=every, progress=progress)
        elif method == "tdvp":
            import numpy as np

            result = tdvp_solve(net, problem.equation, pts, w, final_time=cfg["final_time"], dt=cfg["tdvp_dt"],
                                solver=cfg.get("tdvp_solver", "tsit5"), adaptive=cfg.get("tdvp_adaptive", False),
                                rtol=cfg.get("tdvp_rtol", 1e-6), atol=cfg.get("tdvp_atol", 1e-8),
                                rcond=cfg.get("tdvp_rcond", 1e-10),
                                save_times=np.linspace(0, cfg["final_time"], 11), error_fn=problem.error)
            record.update(tdvp_solver=cfg.get("tdvp_solver", "tsit5"), tdvp_dt=cfg["tdvp_dt"],
                          tdvp_adaptive=cfg.get("tdvp_adaptive", False), tdvp_rcond=cfg.get("tdvp_rcond", 1e-10),
                          tdvp_accepted_steps=result.residuals[0] if result.residuals else None)
        else:
            raise ValueError(method)
    record.update(
        error=result.final_error,
        wall_s=time.perf_counter() - start,
        march_s=result.wall_s,
        times=result.times,
        errors=result.errors,
        failed_steps=len(result.failed_steps),
        max_step_residual=max(result.residuals) if result.residuals and method != "tdvp" else None,
        warnings=len(caught),
    )
    return record


def format_rows(records) -> str:
    head = f"{'problem':11s} {'method':6s} {'params':>6s} {'colloc':>7s} {'dt':>6s} {'error@T':>10s} {'ic_error':>9s} {'wall_s':>8s} {'failed':>6s}"
    lines = [head]
    for r in records:
        lines.append(
            f"{r['problem']:11s} {r['method']:6s} {str(r.get('parameters', '-')):>6s} {r['collocation']:>7s} "
            f"{r['dt']:6.3f} {r['error']:10.3e} {r.get('ic_error', float('nan')):9.2e} {r['wall_s']:8.1f} "
            f"{str(r.get('failed_steps', '-')):>6s}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=tuple(CONFIGS), default="cpu")
    parser.add_argument("--quick", action="store_true", help="same as --config quick")
    parser.add_argument("--problems", nargs="+", default=["heat", "allen-cahn", "burgers"])
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
    out = Path(args.out or f"experiments/results/teng_{name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for problem in args.problems:
        for method in args.methods:
            rec = run(problem, method, cfg, args.seed, progress=not args.no_progress)
            rec["config"] = name
            records.append(rec)
            print(format_rows([rec]).splitlines()[1], flush=True)
            out.write_text(json.dumps({"config": name, "settings": {k: v for k, v in cfg.items()}, "results": records},
                                      indent=2, default=float))
    print(format_rows(records))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
