"""The demo's reference-solver parts: 2D heat and Kolmogorov Navier-Stokes, and the analytic verification."""

from __future__ import annotations

import numpy as np

from ._parts import PartContext


def reference(ctx: PartContext) -> dict:
    """2D heat (ETDRK4, exact in time) and Kolmogorov-forced Navier-Stokes (float32) with figures."""
    import jax.numpy as jnp

    from ..integrators import ETDRK4, rollout_with_progress
    from ..metrics import energy_spectrum
    from ..pdes import NavierStokes2D, kolmogorov_forcing
    from ..plotting import plot_snapshot_strip, plot_spectrum
    from ..problems import build_problem
    from ..spatial import PeriodicGrid

    c = ctx.config
    heat_dt, heat_every = 0.05, max(1, c.heat_steps // 4)
    heat = build_problem("heat", resolution=c.heat_resolution, viscosity=0.05, seed=1, dtype=jnp.float64)
    with ctx.timer() as heat_time:
        heat_traj = rollout_with_progress(ETDRK4(heat.pde, heat_dt), heat.u0, c.heat_steps, save_every=heat_every,
                                          progress=ctx.progress, description="reference: heat")
    heat_traj = np.asarray(heat_traj)
    heat_times = np.arange(heat_traj.shape[0]) * heat_every * heat_dt
    heat_fig = plot_snapshot_strip(heat_traj[:, 0], heat_times, ctx.out / "heat_snapshots.png",
                                   title="2D heat, nu = 0.05")

    n, nu, drag = c.ns_resolution, 1e-2, 0.1
    grid = PeriodicGrid(n, ndim=2, dtype=jnp.float32)
    pde = NavierStokes2D(grid, viscosity=nu, drag=drag, forcing=kolmogorov_forcing(grid, wavenumber=4))
    u0 = build_problem("navier-stokes", resolution=n, seed=2, dtype=jnp.float32).u0
    dt = 0.5 / n
    steps = max(5, int(round(c.ns_time / dt)))
    save_every = max(1, steps // 5)
    with ctx.timer() as ns_time:
        traj = np.asarray(rollout_with_progress(ETDRK4(pde, dt), u0, steps, save_every=save_every,
                                                progress=ctx.progress, description="reference: navier-stokes"))
    times = np.arange(traj.shape[0]) * save_every * dt
    strip = plot_snapshot_strip(traj[:, 0], times, ctx.out / "vorticity_snapshots.png",
                                title=f"Kolmogorov flow vorticity, nu = {nu:g}, drag = {drag:g}")
    spectra = []
    for i in (1, len(times) // 2, -1):
        velocity = np.asarray(pde.velocity(jnp.asarray(traj[i])))
        spectra.append((*energy_spectrum(velocity, grid), f"t = {times[i]:.3g}"))
    spectrum = plot_spectrum(spectra, ctx.out / "energy_spectrum.png", title="Kolmogorov flow kinetic-energy spectrum")
    np.save(ctx.out / "vorticity_final.npy", traj[-1])
    enstrophy = [float(0.5 * np.mean(frame**2)) for frame in traj]
    return {
        "kind": "solve",
        "heat": {"resolution": c.heat_resolution, "steps": c.heat_steps, "dt": heat_dt, "viscosity": 0.05,
                 "wall_s": heat_time.seconds},
        "navier_stokes": {"resolution": n, "steps": steps, "dt": dt, "final_time": steps * dt, "viscosity": nu,
                          "drag": drag, "wall_s": ns_time.seconds, "final_enstrophy": enstrophy[-1]},
        "times": times.tolist(),
        "enstrophy": enstrophy,
        "figures": [str(heat_fig), str(strip), str(spectrum)],
        "paths": {"vorticity_final": str(ctx.out / "vorticity_final.npy")},
        "summary": (f"heat {c.heat_resolution}^2, {c.heat_steps} steps, {heat_time.seconds:.1f} s; Navier-Stokes "
                    f"{n}^2 to t = {steps * dt:.3g} ({steps} steps), {ns_time.seconds:.1f} s; "
                    f"final enstrophy {enstrophy[-1]:.3g}"),
    }


def verify(ctx: PartContext) -> dict:
    """The analytic verification table (:func:`pdesolve.verification.run_verification`, float64)."""
    from tqdm.auto import tqdm

    from ..verification import CASES, format_table, run_verification

    names = list(CASES) if ctx.config.verify_cases is None else list(ctx.config.verify_cases)
    with tqdm(total=len(names), desc="verify", disable=not ctx.progress, dynamic_ncols=True) as bar:
        results = run_verification(names, callback=lambda result: bar.update(1))
    (ctx.out / "verification.md").write_text(format_table(results) + "\n")
    cases = [r.to_json() for r in results]
    failed = [r.case for r in results if not r.passed]
    if failed:
        ctx.fail(f"{len(failed)} of {len(results)} verification cases failed: {', '.join(failed)}",
                 cases=cases, all_passed=False)
    return {
        "kind": "verification",
        "cases": cases,
        "all_passed": True,
        "paths": {"table": str(ctx.out / "verification.md")},
        "summary": f"{len(results)} of {len(results)} analytic cases pass (float64): {ctx.out / 'verification.md'}",
    }
