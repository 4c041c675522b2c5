"""INSR (SIREN, implicit midpoint, Adam + plateau decay) vs an equal-memory grid solver.

    python experiments/insr.py --quick           # a few steps of each problem
    python experiments/insr.py                   # CPU configuration: advection 240 steps, heat, Taylor-Green
    python experiments/insr.py --problems advection --out results/insr_adv.json

Problems (``insr-advection`` and ``insr-heat`` from ``pdesolve.problems``):
- advection: u_t + 0.25 u_x = 0 on [-2, 2], Gaussian pulse at -1.5 (width 0.1), dt = 0.05,
  240 steps, inflow value u(-2) = 0, scored against the exact translated pulse. INSR with Adam
  only ("insr") and with a Levenberg-Marquardt finish per step ("insr+lm"), compared with
  Crank-Nicolson grid solvers whose number of grid values equals the SIREN's parameter count.
- heat: u_t = 0.1 Δu on [0, 2π)^2 (periodic SIREN), TENG initial condition, vs the analytic solution.
- taylor-green: 2D incompressible flow by operator splitting, vorticity vs our spectral
  Navier-Stokes solver.

Memory: "state" is the bytes needed to store the solution (parameters or grid values);
"peak" is XLA's compiled temp + argument + output size of one time step where available.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from pdesolve.bench import write_result_json  # noqa: E402
from pdesolve.neural_fields import (
    INSR,
    ImplicitMidpoint,
    LeastSquaresFinish,
    Siren,
    build_network,
    field_equation,
    fit_network,
    grid_advection_crank_nicolson,
    insr_taylor_green,
    parameter_count,
)
from pdesolve.optim import levenberg_marquardt
from pdesolve.problems import FieldProblem, get

CONFIGS = {
    "quick": dict(adv_steps=10, adv_iters=200, adv_samples=1000, adv_finish=5, adv_finish_points=1000, heat_steps=3, heat_iters=100, tg_steps=2,
                  tg_iters=50, fit_steps=1500, hidden=(20, 20)),
    "cpu": dict(adv_steps=240, adv_iters=100, adv_samples=1000, adv_finish=10, adv_finish_points=2000, heat_steps=20, heat_iters=300, tg_steps=10,
                tg_iters=300, fit_steps=6000, hidden=(20, 20)),
    "paper": dict(adv_steps=240, adv_iters=20000, adv_samples=5000, adv_finish=0, adv_finish_points=0, heat_steps=20, heat_iters=5000, tg_steps=20,
                  tg_iters=5000, fit_steps=20000, hidden=(20, 20)),
}


def _peak_bytes(fn, *args):
    try:
        stats = jax.jit(fn).lower(*args).compile().memory_analysis()
        return int(stats.temp_size_in_bytes + stats.argument_size_in_bytes + stats.output_size_in_bytes)
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None


def run_advection(cfg, seed=0, progress=True):
    problem = get("insr-advection", FieldProblem)
    net = build_network(problem, jax.random.PRNGKey(seed), hidden=cfg["hidden"])
    net, fit_rms = fit_network(net, problem.initial_values, problem.lower, problem.upper, adam_steps=cfg["fit_steps"],
                               lm_steps=100)
    params = parameter_count(net)
    reference = problem.reference(2001)
    steps = cfg["adv_steps"]
    t_final = steps * problem.dt
    rows = []
    # the inflow end x = -2 holds u = 0 (the exact value there is below 4e-6 for t >= 0); without it
    # the implicit step's zero-residual boundary mode grows at the inflow (see INSR's docstring)
    variants = [("insr", 0)] + ([("insr+lm", cfg["adv_finish"])] if cfg["adv_finish"] > 0 else [])
    for method, finish in variants:
        solver = INSR(field_equation(problem), problem.lower, problem.upper, dt=problem.dt, scheme=ImplicitMidpoint(),
                      num_samples=cfg["adv_samples"], max_iterations=cfg["adv_iters"], learning_rate=1e-4,
                      plateau_patience=50,
                      finish=LeastSquaresFinish(levenberg_marquardt(), steps=finish,
                                                num_points=cfg["adv_finish_points"]) if finish else None,
                      boundary_points=problem.boundary_points, boundary_values=problem.boundary_values)
        start = time.perf_counter()
        result = solver.solve(net, steps, error_fn=reference.error, error_every=max(1, steps // 12), progress=progress)
        wall = time.perf_counter() - start
        peak = _peak_bytes(lambda n, k: solver.step(n, k)[0], net, jax.random.PRNGKey(0))
        rows.append(dict(problem="advection", method=method, values=params, error=result.final_error, wall_s=wall,
                         state_bytes=8 * params, peak_bytes=peak, ic_fit_rms=fit_rms, times=result.times,
                         errors=result.errors, mean_iterations=float(np.mean(result.iterations)),
                         adam_iterations=cfg["adv_iters"], lm_finish_steps=finish,
                         max_step_residual=float(np.max(result.residuals))))
    for scheme in ("fd2", "spectral"):
        start = time.perf_counter()
        x, u = grid_advection_crank_nicolson(problem, params, steps, scheme=scheme)
        grid_wall = time.perf_counter() - start
        exact = np.asarray(problem.exact_values(x[:, None], t_final))
        err = float(np.linalg.norm(u - exact) / np.linalg.norm(exact))
        # peak: state + FFT workspace (complex copy) + amplification factors
        rows.append(dict(problem="advection", method=f"grid-cn-{scheme}", values=params, error=err, wall_s=grid_wall,
                         state_bytes=8 * params, peak_bytes=8 * params + 16 * params * 3))
    return rows


def run_heat(cfg, seed=0, progress=True):
    problem = get("insr-heat", FieldProblem)
    net = build_network(problem, jax.random.PRNGKey(seed))
    net, fit_rms = fit_network(net, problem.initial_values, problem.lower, problem.upper, adam_steps=cfg["fit_steps"])
    reference = problem.reference(48)
    solver = INSR(field_equation(problem), problem.lower, problem.upper, dt=problem.dt, num_samples=2000,
                  max_iterations=cfg["heat_iters"], learning_rate=1e-4, scheme=ImplicitMidpoint())
    start = time.perf_counter()
    result = solver.solve(net, cfg["heat_steps"], error_fn=reference.error, error_every=1, progress=progress)
    return [dict(problem="heat-2d", method="insr", values=parameter_count(net), error=result.final_error,
                 final_time=cfg["heat_steps"] * problem.dt, wall_s=time.perf_counter() - start, ic_fit_rms=fit_rms,
                 times=result.times, errors=result.errors)]


def run_taylor_green(cfg, seed=0, progress=True):
    from pdesolve.integrators import advance, etdrk
    from pdesolve.pdes import NavierStokes2D, taylor_green_vorticity
    from pdesolve.spatial import PeriodicGrid

    nu, dt = 0.01, 0.05
    two_pi = 2 * np.pi
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    vel = Siren(k1, 2, (32, 32), num_outputs=2, bounds=(0.0, two_pi), periodic=True, omega0=5.0)
    pres = Siren(k2, 2, (32, 32), bounds=(0.0, two_pi), periodic=True, omega0=5.0)
    vel, fit_rms = fit_network(vel, lambda x: jnp.stack([-jnp.cos(x[0]) * jnp.sin(x[1]), jnp.sin(x[0]) * jnp.cos(x[1])]),
                               (0.0, 0.0), (two_pi, two_pi), adam_steps=cfg["fit_steps"])
    grid = PeriodicGrid(32, ndim=2, dtype=jnp.float64)
    pts = jnp.moveaxis(grid.coordinates(), 0, -1).reshape(-1, 2)
    pde = NavierStokes2D(grid, viscosity=nu)
    omega0 = taylor_green_vorticity(grid, 0.0, nu)
    stepper = etdrk(pde, dt / 10, 4)
    cache = {}

    def reference(t):
        n = int(round(t / (dt / 10)))
        if n not in cache:
            cache[n] = np.asarray(advance(stepper, omega0, n)[0]).ravel() if n else np.asarray(omega0[0]).ravel()
        return cache[n]

    def vorticity(v, x):
        jac = jax.jacfwd(v)(x)
        return jac[1, 0] - jac[0, 1]

    def error(v, t):
        ref = reference(t)
        w = np.asarray(jax.vmap(lambda x: vorticity(v, x))(pts))
        return float(np.linalg.norm(w - ref) / np.linalg.norm(ref))

    start = time.perf_counter()
    result = insr_taylor_green(vel, pres, viscosity=nu, dt=dt, num_steps=cfg["tg_steps"], iterations=cfg["tg_iters"],
                               error_fn=error, progress=progress)
    return [dict(problem="taylor-green", method="insr-split", values=parameter_count(vel) + parameter_count(pres),
                 error=result.final_error, final_time=cfg["tg_steps"] * dt, wall_s=time.perf_counter() - start,
                 ic_fit_rms=fit_rms, times=result.times, errors=result.errors)]


def format_rows(rows):
    lines = [f"{'problem':13s} {'method':16s} {'values':>6s} {'error':>10s} {'wall_s':>8s} {'state_B':>8s} {'peak_B':>9s}"]
    for r in rows:
        lines.append(f"{r['problem']:13s} {r['method']:16s} {r['values']:6d} {r['error']:10.3e} {r['wall_s']:8.1f} "
                     f"{str(r.get('state_bytes', '-')):>8s} {str(r.get('peak_bytes', '-')):>9s}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=tuple(CONFIGS), default="cpu")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--problems", nargs="+", default=["advection", "heat", "taylor-green"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    name = "quick" if args.quick else args.config
    cfg = CONFIGS[name]
    out = Path(args.out or f"experiments/results/insr_{name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    runners = {"advection": run_advection, "heat": run_heat, "taylor-green": run_taylor_green}
    rows = []
    for problem in args.problems:
        rows += runners[problem](cfg, args.seed, progress=not args.no_progress)
        write_result_json(out, {"config": name, "results": rows}, seed=args.seed)
        print(format_rows(rows), flush=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
