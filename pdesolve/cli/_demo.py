"""``pdesolve demo``: the main job, a short tour that writes ``runs/demo/``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="the main job: heat + Kolmogorov Navier-Stokes + verify, written to runs/demo/",
        description=(
            "Solve 2D heat and 2D Kolmogorov-forced Navier-Stokes, run the analytic verification, and write "
            "a vorticity snapshot strip, an energy-spectrum plot and report.md into --out (default runs/demo)."
        ),
    )
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--resolution", type=int, default=128, help="Navier-Stokes grid (default 128)")
    p.add_argument("--time", type=float, default=30.0, help="Navier-Stokes final time (default 30)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(run=run)


def run_demo(out: Path, resolution: int = 128, final_time: float = 30.0, progress: bool = True) -> dict:
    """Run the demo and write its files into `out`; returns the summary dict."""
    import jax.numpy as jnp

    from ..integrators import ETDRK4, rollout_with_progress
    from ..metrics import energy_spectrum
    from ..pdes import Heat, NavierStokes2D, kolmogorov_forcing
    from ..plotting import plot_snapshot_strip, plot_spectrum
    from ..problems import build_problem
    from ..spatial import PeriodicGrid
    from ..verification import format_table, run_verification
    from .._version import __version__

    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"pdesolve_version": __version__}
    say = (lambda msg: print(msg, file=sys.stderr)) if progress else (lambda msg: None)

    # 1. 2D heat from a random smooth field, exact-in-time exponential stepping.
    say("[1/3] 2D heat equation, 128x128, ETDRK4 (exact in time)")
    start = time.perf_counter()
    heat = build_problem("heat", resolution=128, viscosity=0.05, seed=1, dtype=jnp.float64)
    heat_traj = rollout_with_progress(ETDRK4(heat.pde, 0.05), heat.u0, 40, save_every=10, progress=progress, description="heat")
    heat_times = np.arange(heat_traj.shape[0]) * 10 * 0.05
    plot_snapshot_strip(np.asarray(heat_traj[:, 0]), heat_times, out / "heat_snapshots.png", title="2D heat, nu = 0.05")
    summary["heat"] = {"resolution": 128, "steps": 40, "dt": 0.05, "wall_s": time.perf_counter() - start}

    # 2. Kolmogorov flow: forcing sin(4y) in x, drag 0.1, nu = 1e-2 on [0, 2pi)^2, float32.
    say(f"[2/3] 2D Kolmogorov Navier-Stokes, {resolution}x{resolution}, ETDRK4, t = 0..{final_time:g}")
    start = time.perf_counter()
    grid = PeriodicGrid(resolution, ndim=2, dtype=jnp.float32)
    nu, drag = 1e-2, 0.1
    pde = NavierStokes2D(grid, viscosity=nu, drag=drag, forcing=kolmogorov_forcing(grid, wavenumber=4))
    ns = build_problem("navier-stokes", resolution=resolution, seed=2, dtype=jnp.float32)
    dt = 0.5 / resolution
    steps = int(round(final_time / dt))
    save_every = steps // 5
    traj = rollout_with_progress(ETDRK4(pde, dt), ns.u0, steps, save_every=save_every, progress=progress, description="navier-stokes")
    traj = np.asarray(traj)
    times = np.arange(traj.shape[0]) * save_every * dt
    plot_snapshot_strip(traj[:, 0], times, out / "vorticity_snapshots.png", title=f"Kolmogorov flow vorticity, nu = {nu:g}, drag = {drag:g}")
    spectra = []
    for i in (1, len(times) // 2, -1):
        velocity = np.asarray(pde.velocity(jnp.asarray(traj[i])))
        spectra.append((*energy_spectrum(velocity, grid), f"t = {times[i]:.3g}"))
    plot_spectrum(spectra, out / "energy_spectrum.png", title="Kolmogorov flow kinetic-energy spectrum")
    np.save(out / "vorticity_final.npy", traj[-1])
    summary["navier_stokes"] = {
        "resolution": resolution, "steps": steps, "dt": dt, "final_time": steps * dt,
        "viscosity": nu, "drag": drag, "wall_s": time.perf_counter() - start,
        "final_enstrophy": float(0.5 * np.mean(traj[-1] ** 2)),
    }

    # 3. Analytic verification in float64.
    say("[3/3] pdesolve verify (float64)")
    start = time.perf_counter()
    results = run_verification()
    table = format_table(results)
    summary["verify"] = [r.to_json() for r in results]
    summary["verify_wall_s"] = time.perf_counter() - start

    report = [
        "# pdesolve demo report",
        "",
        f"pdesolve {__version__}. Written by `pdesolve demo`.",
        "",
        "## 2D heat",
        f"128x128, nu = 0.05, ETDRK4 (exact in time for linear problems), 40 steps of dt = 0.05 "
        f"({summary['heat']['wall_s']:.1f} s). Figure: `heat_snapshots.png`.",
        "",
        "## 2D Kolmogorov-forced Navier-Stokes",
        f"{resolution}x{resolution} on [0, 2pi)^2, vorticity form, nu = {nu:g}, drag = {drag:g}, "
        f"forcing sin(4y) in x, ETDRK4 with dt = {dt:.4g}, {steps} steps to t = {steps * dt:.3g} "
        f"({summary['navier_stokes']['wall_s']:.1f} s, float32). Figures: `vorticity_snapshots.png`, "
        "`energy_spectrum.png`.",
        "",
        "## Verification against analytic solutions (float64)",
        "",
        table,
        "",
    ]
    (out / "report.md").write_text("\n".join(report))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    summary["outputs"] = {p.name: str(p) for p in sorted(out.iterdir())}
    summary["all_passed"] = all(r.passed for r in results)
    return summary


def run(args) -> int:
    from ._main import emit_json

    start = time.perf_counter()
    summary = run_demo(Path(args.out), args.resolution, args.time, progress=not (args.quiet or args.json))
    summary["total_wall_s"] = time.perf_counter() - start
    if args.json:
        emit_json(summary)
    else:
        print((Path(args.out) / "report.md").read_text())
        print(f"demo finished in {summary['total_wall_s']:.1f} s; outputs in {args.out}/:")
        for name, path in summary["outputs"].items():
            print(f"  {path}")
    return 0 if summary["all_passed"] else 1
