r"""Learned corrections trained through the solver: 2D Kolmogorov flow on a coarse grid (Kochkov et al. 2021).

Flow: $\partial_t\omega + \mathbf u\cdot\nabla\omega = \nu\Delta\omega - \alpha\omega + f$ on $[0, 2\pi)^2$, Kolmogorov
forcing of wavenumber 4 (:func:`pdesolve.pdes.kolmogorov_forcing`), ETDRK4 (:class:`pdesolve.integrators.ETDRK4`).

1. **Reference** at ``reference`` points per axis (float64, ``fine_substeps`` steps per coarse step), from
   random initial conditions (the ``ns-kolmogorov`` recipe's) after ``spinup`` time units; checked against a run
   on a 2x finer grid from the same spun-up state (correlation over ``check_time``). Its frames are spectrally truncated to the coarse grid $n$
   (:func:`pdesolve.datasets.spectral_truncate`) and cached under ``OUT/cache``.
2. **Training** (float32): the correction $C_\theta$ (:class:`pdesolve.neural_ode.PeriodicConvCorrection`) of the
   hybrid stepper $S_{\Delta t} + \Delta t\,C_\theta$ at $n$ (:mod:`pdesolve.hybrid`), in
   :func:`pdesolve.training.train` with :class:`pdesolve.hybrid.UnrolledLoss`: ``learned`` unrolls ``unroll``
   solver steps, ``learned-one-step`` one step on the same data, with the same number of optimizer steps
   (``--steps``, or as many as the unrolled run takes in ``--minutes``). ``dt_factor`` > 1 lets the hybrid steppers
   take steps that many times the coarse CFL step (trained on every ``dt_factor``-th frame).
3. **Scoring** on held-out initial conditions (other seeds), all runs float32 from the reference state truncated
   to their grid, CFL-limited $\Delta t$ ($\Delta t_n$ = ``dt``, halved per doubling): direct simulation at $n$,
   $2n$, $4n$ (filtered to $n$), ``learned``, ``learned-one-step``. Vorticity correlation with the reference
   (:func:`pdesolve.metrics.correlation`) on the modes $|m| \le n/3$ and on the full $n$ band, the
   high-correlation time (first drop below 0.95, :func:`pdesolve.metrics.high_correlation_time`), the energy
   spectrum averaged over the last quarter of the rollout against the reference's
   (:func:`pdesolve.metrics.vorticity_energy_spectrum`), and wall seconds per simulated time unit (one trajectory,
   compiled, best of ``--repeats``).

Run::

    .venv/bin/python experiments/hybrid_kolmogorov.py --quick          # toy sizes, about 1-2 minutes
    nice -n 10 .venv/bin/python experiments/hybrid_kolmogorov.py --minutes 30   # n = 32 vs 256^2 reference

Writes ``OUT/hybrid_kolmogorov.json`` (rows per method and resolution, correlation curves, provenance),
``OUT/correlation.png`` and ``OUT/snapshots.png``; the training runs (checkpoints, histories) under ``OUT/train``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from pdesolve.bench import write_result_json  # noqa: E402
from pdesolve.datasets import spectral_truncate  # noqa: E402
from pdesolve.hybrid import UnrolledLoss, VorticityFluxCorrection, corrected  # noqa: E402
from pdesolve.initial_conditions import random_fourier_series  # noqa: E402
from pdesolve.integrators import ETDRK4, advance, rollout, rollout_batch  # noqa: E402
from pdesolve.metrics import correlation, high_correlation_time, vorticity_energy_spectrum  # noqa: E402
from pdesolve.neural_ode import PeriodicConvCorrection  # noqa: E402
from pdesolve.pdes import NavierStokes2D, kolmogorov_forcing  # noqa: E402
from pdesolve.problems import fourier_resample  # noqa: E402
from pdesolve.spatial import PeriodicGrid  # noqa: E402
from pdesolve.training import TrainConfig, TrajectoryData, train  # noqa: E402

PRESETS = {
    # Toy sizes for a smoke run (an easy regime: nu = 1e-2).
    "quick": dict(n=16, reference=64, nu=1e-2, drag=0.1, wavenumber=4, dt=0.04, fine_substeps=4, train_seeds=4,
                  spinup=2.0, train_time=3.0, test_seeds=2, score_time=4.0, score_every=0.2, reference_every=0.2,
                  check_time=1.0, correction="conv",
                  unroll=8, batch_size=2, width=8, depth=1, steps=40, learning_rate=2e-3, timing_time=1.0, repeats=3,
                  dt_factor=1),
    # The regime: 256^2 reference, n = 32 (direct 32, 64, 128).
    "kolmogorov": dict(n=32, reference=256, nu=2.5e-3, drag=0.1, wavenumber=4, dt=0.02, fine_substeps=8,
                       train_seeds=8, spinup=10.0, train_time=20.0, test_seeds=4, score_time=20.0, score_every=0.1,
                       reference_every=0.1, check_time=10.0, correction="conv", unroll=32, batch_size=4, width=16,
                       depth=2, steps=None, learning_rate=1e-3, timing_time=2.0, repeats=3, dt_factor=1),
}
THRESHOLD = 0.95


def _pde(cfg, n, dtype):
    grid = PeriodicGrid(n, extent=2 * np.pi, ndim=2, dtype=dtype)
    return NavierStokes2D(grid, viscosity=cfg["nu"], drag=cfg["drag"], forcing=kolmogorov_forcing(grid, cfg["wavenumber"]))


def _cache_path(cfg, cache, seed, duration, every, resolution, keep, from_start):
    settings = {k: cfg[k] for k in ("nu", "drag", "wavenumber", "dt", "fine_substeps", "spinup", "n")}
    settings.update(seed=int(seed), duration=duration, every=every, resolution=resolution, keep=keep,
                    from_start=from_start)
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    return Path(cache) / f"reference_{resolution}_{digest}.npz"


def reference_frames(cfg, seeds, duration, every, *, resolution=None, cache=None, keep=None, start=None):
    """Reference trajectories after the spin-up: frames truncated to n every `every` time units (float32) and the
    first state truncated to `keep` points (float64), as numpy arrays; cached per seed by their settings (more
    seeds later reuse the ones computed). With `start` (states on the reference grid, one per seed) the run starts
    from those, interpolated to `resolution`, without a spin-up."""
    resolution = resolution or cfg["reference"]
    seeds = [int(s) for s in seeds]
    paths = [None if cache is None else _cache_path(cfg, cache, s, duration, every, resolution, keep, start is not None)
             for s in seeds]
    frames, firsts = [None] * len(seeds), [None] * len(seeds)
    for i, path in enumerate(paths):
        if path is not None and path.exists():
            stored = np.load(path)
            frames[i], firsts[i] = stored["frames"], stored["start"]
    missing = [i for i, f in enumerate(frames) if f is None]
    if missing:
        new, first = _reference_run(cfg, [seeds[i] for i in missing], duration, every, resolution, keep,
                                    None if start is None else start[missing])
        for j, i in enumerate(missing):
            frames[i], firsts[i] = new[j], first[j]
            if paths[i] is not None:
                paths[i].parent.mkdir(parents=True, exist_ok=True)
                np.savez(paths[i], frames=new[j], start=first[j])
    return np.stack(frames), np.stack(firsts)


def _reference_run(cfg, seeds, duration, every, resolution, keep, start):
    pde = _pde(cfg, resolution, jnp.float64)
    h = cfg["dt"] / cfg["fine_substeps"] * (cfg["reference"] / resolution)
    stepper = ETDRK4(pde, h)
    if start is None:  # initial conditions drawn on the reference grid, then the spin-up
        base = PeriodicGrid(cfg["reference"], extent=2 * np.pi, ndim=2, dtype=jnp.float64)
        u0s = jnp.stack([2.0 * random_fourier_series(jax.random.PRNGKey(int(s)), base, max_mode=4) for s in seeds])
        spin = round(cfg["spinup"] / h)
        state = rollout_batch(stepper, u0s, spin, save_every=spin, include_initial=False)[:, -1]
    else:
        state = jnp.asarray(np.stack([fourier_resample(u[0], resolution) for u in start])[:, None])
    start = np.asarray(spectral_truncate(state, (keep or cfg["n"],) * 2), np.float64)
    per_frame, frames = round(every / h), [spectral_truncate(state[:, None], (cfg["n"],) * 2)]
    remaining = round(duration / every)
    while remaining:  # chunks of at most 10 frames bound the memory of the fine frames
        chunk = min(10, remaining)
        fine = rollout_batch(stepper, state, chunk * per_frame, save_every=per_frame, include_initial=False)
        state, remaining = fine[:, -1], remaining - chunk
        frames.append(spectral_truncate(fine, (cfg["n"],) * 2))
    return np.asarray(jnp.concatenate(frames, axis=1), np.float32), start  # [sample, t, 1, n, n]


def make_correction(cfg, data, seed):
    """The untrained correction network of `cfg["correction"]`: ``conv`` (a periodic CNN on the vorticity,
    :class:`~pdesolve.neural_ode.PeriodicConvCorrection`) or ``flux`` (the divergence of a learned subgrid flux from
    resolved-flow features, :class:`~pdesolve.hybrid.VorticityFluxCorrection`), input scales measured on `data`."""
    key = jax.random.PRNGKey(seed)
    if cfg["correction"] == "conv":
        return PeriodicConvCorrection(1, ndim=2, width=cfg["width"], depth=cfg["depth"], kernel_size=3, key=key,
                                      scale=float(np.sqrt(np.mean(data**2))))
    if cfg["correction"] == "flux":
        grid = PeriodicGrid(cfg["n"], extent=2 * np.pi, ndim=2, dtype=jnp.float32)
        sample = data[:, :: max(1, data.shape[1] // 50)].reshape(-1, *data.shape[2:])
        scales = VorticityFluxCorrection.feature_scales(sample, grid)
        return VorticityFluxCorrection(grid, cfg["width"], cfg["depth"], key=key, scales=scales)
    raise ValueError(f"correction must be 'conv' or 'flux', got {cfg['correction']!r}")


def train_correction(cfg, data, unroll, steps, out, seed, progress):
    """Train the correction at n on `data` [sample, t, 1, n, n] for `steps` optimizer steps; returns (network, s/step)."""
    coarse = ETDRK4(_pde(cfg, cfg["n"], jnp.float32), cfg["dt"] * cfg["dt_factor"])
    per_epoch = len(data) // cfg["batch_size"]
    config = TrainConfig(epochs=max(1, math.ceil(steps / per_epoch)), batch_size=cfg["batch_size"], window=1,
                         rollout_steps=unroll, learning_rate=cfg["learning_rate"], schedule="cosine",
                         final_lr_fraction=0.1, clip_norm=1.0, seed=seed, splits=(1.0, 0.0, 0.0), eval_every=0,
                         time_stride=cfg["dt_factor"])
    network = make_correction(cfg, data, seed)
    walls = []
    frames = TrajectoryData(data, splits=(1.0, 0.0, 0.0), time_stride=cfg["dt_factor"])
    result = train(network, frames, config, out=out, progress=progress, overwrite=True,  # a rerun retrains
                   loss=UnrolledLoss(coarse), evaluate_test=False, name=out.name,
                   on_step=lambda step, record: walls.append(record["wall_s"]))
    per_step = float(np.median(np.diff(walls[1:]))) if len(walls) > 3 else float("nan")
    return result.model, per_step, result.history


def _timed(stepper, u0, steps, repeats):
    advance(stepper, u0, steps, check_finite=False).block_until_ready()  # compile
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        advance(stepper, u0, steps, check_finite=False).block_until_ready()
        best = min(best, time.perf_counter() - began)
    return best


def score(cfg, methods, reference, start, repeats):
    """Rollouts of every method from each test start, correlations, spectra, and wall seconds per time unit."""
    n, every = cfg["n"], cfg["score_every"]
    grid = PeriodicGrid(n, extent=2 * np.pi, ndim=2, dtype=jnp.float32)
    times = np.arange(reference.shape[1]) * every
    ref = jnp.asarray(reference)
    tail = slice(3 * len(times) // 4, None)
    ref_spectrum = np.mean([vorticity_energy_spectrum(f, grid)[1] for f in reference[:, tail].reshape(-1, 1, n, n)], 0)
    rows, curves, fields = [], {}, {}
    for name, resolution, stepper in methods:
        per_save = round(every / stepper.dt)
        frames = []
        for u0 in start:
            u0 = jnp.asarray(spectral_truncate(jnp.asarray(u0), (resolution,) * 2), jnp.float32)
            frames.append(spectral_truncate(rollout(stepper, u0, per_save * (len(times) - 1), save_every=per_save,
                                                    check_finite=False), (n, n)))
        frames = jnp.stack(frames)  # [sample, t, 1, n, n]
        finite = bool(jnp.all(jnp.isfinite(frames)))
        banded = np.asarray(correlation(frames, ref, grid, max_wavenumber=n // 3))
        full = np.asarray(correlation(frames, ref, grid))
        hct = [high_correlation_time(c, times, THRESHOLD) for c in banded]
        hct_full = [high_correlation_time(c, times, THRESHOLD) for c in full]
        spectrum = np.mean([vorticity_energy_spectrum(f, grid)[1] for f in np.asarray(frames[:, tail]).reshape(-1, 1, n, n)], 0)
        k = np.arange(1, n // 3 + 1)
        ratio = spectrum[k] / ref_spectrum[k]
        timing_steps = round(cfg["timing_time"] / stepper.dt)
        u0 = jnp.asarray(spectral_truncate(jnp.asarray(start[0]), (resolution,) * 2), jnp.float32)
        wall = _timed(stepper, u0, timing_steps, repeats) / cfg["timing_time"]
        key = f"{name}-{resolution}"
        curves[key] = {"band": banded.mean(0).tolist(), "full": full.mean(0).tolist()}
        fields[key] = np.asarray(frames[0])
        rows.append({"method": name, "resolution": resolution, "dt": stepper.dt,
                     "high_correlation_time": float(np.mean(hct)), "high_correlation_time_range": [min(hct), max(hct)],
                     "high_correlation_time_full_band": float(np.mean(hct_full)),
                     "wall_s_per_time_unit": wall, "finite": finite,
                     "spectrum_ratio_range": [float(ratio.min()), float(ratio.max())],
                     "spectrum_within_factor_2": bool(finite and ratio.min() >= 0.5 and ratio.max() <= 2.0)})
        print(f"{key:24s} high-correlation time {np.mean(hct):6.2f} (full band {np.mean(hct_full):6.2f}), "
              f"{wall * 1e3:8.2f} ms per time unit, spectrum ratio {ratio.min():.2f}-{ratio.max():.2f}")
    return rows, curves, fields, times


def figures(out, curves, fields, reference, times, n):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for key, curve in curves.items():
        for ax, band in zip(axes, ("band", "full")):
            ax.plot(times, curve[band], label=key, lw=2 if key.startswith("learned") else 1.2)
    for ax, title in zip(axes, (f"modes |k| <= {n // 3}", f"full {n}x{n} band")):
        ax.axhline(THRESHOLD, color="k", ls=":", lw=1)
        ax.set(xlabel="time", title=title, ylim=(0, 1.02))
    axes[0].set_ylabel("vorticity correlation with the reference")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "correlation.png", dpi=120)
    plt.close(fig)
    columns = [("reference", reference[0])] + list(fields.items())
    moments = [len(times) // 4, len(times) - 1]
    fig, axes = plt.subplots(len(moments), len(columns), figsize=(2.2 * len(columns), 2.3 * len(moments)))
    vmax = float(np.max(np.abs(reference[0])))
    for row, t in enumerate(moments):
        for col, (name, frames) in enumerate(columns):
            axes[row, col].imshow(frames[t, 0].T, origin="lower", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            axes[row, col].set_xticks([]), axes[row, col].set_yticks([])
            axes[row, col].set_title(f"{name}\nt = {times[t]:.1f}", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "snapshots.png", dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the toy preset")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default runs/hybrid_kolmogorov[_quick])")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per method (overrides --minutes)")
    parser.add_argument("--minutes", type=float, default=30.0,
                        help="training budget of the unrolled run; the one-step run takes as many steps")
    parser.add_argument("--unroll", type=int, default=None, help="solver steps unrolled in training")
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--depth", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=None, help="timing repeats (best of; default: the preset's)")
    parser.add_argument("--skip-reference-check", action="store_true", help="do not run the 2x finer reference")
    parser.add_argument("--smoke", action="store_true", help="time training and solvers only; no full scoring")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override preset values, e.g. --set train_seeds=4 spinup=2 (for smoke runs)")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    name = "quick" if args.quick else "kolmogorov"
    cfg = dict(PRESETS[name])
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in cfg:
            parser.error(f"--set: unknown key {key!r}; choose from {', '.join(cfg)}")
        cfg[key] = type(cfg[key])(value) if cfg[key] is not None else int(value)
    for step, name in ((cfg["dt"] * cfg["dt_factor"], "dt * dt_factor"), (cfg["reference_every"], "reference_every")):
        ratio = cfg["score_every"] / step
        if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
            parser.error(f"score_every = {cfg['score_every']} must be a multiple of {name}")
    if cfg["correction"] not in ("conv", "flux"):
        parser.error(f"--set correction: 'conv' or 'flux', got {cfg['correction']!r}")
    for key in ("unroll", "width", "depth"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    out = args.out or Path("runs") / ("hybrid_kolmogorov_quick" if args.quick else "hybrid_kolmogorov")
    out.mkdir(parents=True, exist_ok=True)
    n, seed = cfg["n"], args.seed
    began = time.perf_counter()
    train_seeds = [1000 * seed + i for i in range(cfg["train_seeds"])]
    test_seeds = [1000 * seed + 500 + i for i in range(cfg["test_seeds"])]
    data, _ = reference_frames(cfg, train_seeds, cfg["train_time"], cfg["dt"], cache=out / "cache")
    full_reference, start = reference_frames(cfg, test_seeds, cfg["score_time"], cfg["reference_every"],
                                             cache=out / "cache", keep=cfg["reference"])
    reference = full_reference[:, :: round(cfg["score_every"] / cfg["reference_every"])]
    data_s = time.perf_counter() - began
    print(f"reference data: {data.shape[0]} training and {reference.shape[0]} test trajectories in {data_s:.0f} s")
    check = None
    if not args.skip_reference_check and not args.smoke:
        duration = cfg["check_time"]
        fine, _ = reference_frames(cfg, test_seeds[:1], duration, cfg["reference_every"], cache=out / "cache",
                                   resolution=2 * cfg["reference"], start=start[:1])
        grid = PeriodicGrid(n, extent=2 * np.pi, ndim=2, dtype=jnp.float32)
        rho = np.asarray(correlation(jnp.asarray(fine[0]), jnp.asarray(full_reference[0, : fine.shape[1]]), grid))
        check = {"resolution": 2 * cfg["reference"], "time": duration, "min_correlation": float(rho.min())}
        print(f"reference vs {2 * cfg['reference']}^2 over {duration} time units: correlation >= {rho.min():.6f}")
    probe = train_correction(cfg, data, cfg["unroll"], 6, out / "train" / "probe", seed, False)
    per_step = probe[1]
    steps = args.steps or cfg["steps"] or max(1, int(args.minutes * 60 / per_step))
    print(f"unrolled ({cfg['unroll']} steps) training: {per_step * 1e3:.1f} ms per optimizer step; {steps} steps")
    coarse = ETDRK4(_pde(cfg, n, jnp.float32), cfg["dt"] * cfg["dt_factor"])
    methods = [("direct", m * n, ETDRK4(_pde(cfg, m * n, jnp.float32), cfg["dt"] / m)) for m in (1, 2, 4)]
    training = {}
    if not args.smoke:
        for method, unroll in (("learned", cfg["unroll"]), ("learned-one-step", 1)):
            t0 = time.perf_counter()
            network, seconds, history = train_correction(cfg, data, unroll, steps, out / "train" / method, seed,
                                                         args.progress)
            training[method] = {"unroll": unroll, "steps": steps, "wall_s": time.perf_counter() - t0,
                                "s_per_step": seconds, "final_loss": history[-1]["train_loss"]}
            methods.append((method, n, corrected(coarse, network)))
    else:
        methods.append(("learned-probe", n, corrected(coarse, probe[0])))
    rows, curves, fields, times = score(cfg, methods, reference, start, args.repeats or cfg["repeats"])
    pde, h = _pde(cfg, cfg["reference"], jnp.float64), cfg["dt"] / cfg["fine_substeps"]
    u0 = jnp.asarray(fourier_resample(start[0, 0], cfg["reference"])[None])
    ref_wall = _timed(ETDRK4(pde, h), u0, round(1.0 / h), 1)
    print(f"reference {cfg['reference']}^2 float64: {ref_wall:.3f} s per time unit")
    figures(out, curves, fields, reference, times, n)
    by = {(row["method"], row["resolution"]): row for row in rows}
    goals = {}
    if ("learned", n) in by:
        learned, one_step = by[("learned", n)], by[("learned-one-step", n)]
        matched = [m for m in (4, 2, 1) if learned["high_correlation_time"] >= by[("direct", m * n)]["high_correlation_time"]]
        goals = {"matches_direct_resolution": matched[0] * n if matched else None,
                 "cost_ratio_vs_matched": (by[("direct", matched[0] * n)]["wall_s_per_time_unit"]
                                           / learned["wall_s_per_time_unit"]) if matched else None,
                 "through_solver_minus_one_step": learned["high_correlation_time"] - one_step["high_correlation_time"],
                 "stable_spectrum_within_factor_2": learned["spectrum_within_factor_2"]}
        print("goals:", json.dumps(goals))
    payload = {"experiment": "hybrid_kolmogorov", "goals": goals, "preset": name, "config": cfg, "threshold": THRESHOLD,
               "scored_modes": n // 3, "training_step_s": per_step, "training": training, "reference_check": check,
               "reference_wall_s_per_time_unit": ref_wall, "results": rows, "times": times.tolist(), "curves": curves,
               "wall_s": time.perf_counter() - began}
    command = None if argv is None else ["experiments/hybrid_kolmogorov.py", *argv]
    path = write_result_json(out / "hybrid_kolmogorov.json", payload, seed=seed, argv=command)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
