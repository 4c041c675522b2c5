r"""Learning curves of FNO-2D on 2D Navier-Stokes ($\nu = 10^{-3}$): test error against optimizer
steps and against training samples, with the FNO paper's 0.0128 (Li et al., ICLR 2021) marked.

The data, model and training set-up are those of ``experiments/fno_navier_stokes.py`` (its
``ns_fno_file``, ``train_config`` and ``fno_model``): ``ns-fno`` vorticity, frames $t = 1..T$,
10 frames in, the rest predicted autoregressively and trained through (per-step relative $L^2$),
FNO-2D with 12 modes and width 20, Adam $10^{-3}$ with L2 weight decay $10^{-4}$, batch 20, the
rate halved every fifth of the run (the paper: every 100 of 500 epochs).

- **Data**: one file of ``n_train_max + n_test`` samples at the finest resolution of the preset,
  generated once and cached (``--cache-dir``, Blosc-LZ4 HDF5); coarser grids are its spectral
  truncation (:func:`pdesolve.datasets.spectral_truncate`). Every run trains on the first
  ``N`` samples and is tested on the same last ``n_test`` samples.
- **Runs** ``RES:N:STEPS`` (``--runs``): resolution, training samples, optimizer steps (rounded
  to whole epochs). Each records its test error every ``eval_every`` steps (the curve along
  the run) and at its end; a run at a coarser grid is also tested on the finest grid
  (zero-shot, the FNO's resolution invariance).
- **Fits**: a power law $e = a\,x^{-b}$ in log-log, through the end-of-run errors of runs that
  share a resolution and a step count (against samples) or a resolution and a sample count
  (against steps), and through the test errors along the longest run (against steps); each fit
  is extrapolated to the error 0.03 and to the paper's 0.0128.

Rows are merged into ``--json`` (a row with the same resolution, samples and steps is replaced),
so runs can be made one at a time; the figure ``--png`` is redrawn from all rows.

Run::

    python experiments/fno_learning_curve.py --quick                       # toy sizes, < 2 min
    python experiments/fno_learning_curve.py --runs 32:1000:3000 32:100:500  # some of the CPU runs
    python experiments/fno_learning_curve.py --preset gpu --max-minutes 6    # the paper's set-up (GPU)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fno_navier_stokes import ANCHOR_FNO_2D, SEED, fno_model, ns_fno_file, train_config  # noqa: E402

GOAL = 0.03
PRESETS = {
    # 1000/200 samples at 64^2 solved on 64^2 (32^2: its spectral truncation), T = 20 (10 predicted). All the
    # runs: about 3 CPU hours at one thread (1.7 CPU s per 32^2 step); experiments/README.md lists those made.
    "cpu": dict(master=64, solve_resolution=64, n_train_max=1000, n_test=200, t_final=20, batch_size=20, modes=12,
                width=20, eval_every=250,
                runs=("32:100:1000", "32:300:1000", "32:1000:1000", "32:1000:3000", "64:1000:300")),
    # The paper's set-up: 1000/200 samples at 64^2 solved on 256^2, T = 50 (40 predicted), as far as the time allows.
    "gpu": dict(master=64, solve_resolution=256, n_train_max=1000, n_test=200, t_final=50, batch_size=20, modes=12,
                width=20, eval_every=250, runs=("64:1000:5000",)),
    # The same wiring at toy sizes (seconds on a CPU).
    "quick": dict(master=32, solve_resolution=32, n_train_max=16, n_test=4, t_final=14, batch_size=4, modes=4,
                  width=8, eval_every=4, runs=("16:16:8", "16:8:8", "16:16:4", "32:16:4")),
}


class _OutOfTime(Exception):
    """Raised from the epoch callback when the run's time budget is spent."""


def load_master(preset: dict, cache_dir: Path, progress: bool) -> tuple[np.ndarray, Path, float]:
    """All samples ``[n, t, 1, x, y]`` at the preset's finest grid (generated once), its file and the seconds spent."""
    from pdesolve.training import TrajectoryData

    t0 = time.perf_counter()
    n = preset["n_train_max"] + preset["n_test"]
    path = ns_fno_file(cache_dir, n, preset["master"], preset["solve_resolution"], preset["t_final"],
                       progress=progress, compression="blosc-lz4")
    with TrajectoryData(path, splits=(1.0, 0.0, 0.0)) as data:
        array = data.read(np.arange(n))
    return array, path, time.perf_counter() - t0


def at_resolution(master: np.ndarray, resolution: int) -> np.ndarray:
    """`master` spectrally truncated to ``resolution^2`` (in chunks of 100 samples)."""
    from pdesolve.datasets import spectral_truncate

    if master.shape[-1] == resolution:
        return master
    return np.concatenate([np.asarray(spectral_truncate(master[i : i + 100], (resolution, resolution)))
                           for i in range(0, len(master), 100)])


def run_one(spec: str, arrays: dict, preset: dict, *, max_minutes: float | None, progress: bool, started: dict) -> dict:
    """Train one ``RES:N:STEPS`` run; its end-of-run test error and the test errors along the way.

    `started`: the provenance (command, commit, date) of the invocation, recorded with the row.
    """
    from pdesolve.training import TrajectoryData, train

    resolution, n_train, steps = (int(v) for v in spec.split(":"))
    if n_train > preset["n_train_max"] or resolution > preset["master"]:
        raise SystemExit(f"run {spec}: at most {preset['n_train_max']} samples and {preset['master']}^2 in this preset")
    n_test, batch = preset["n_test"], preset["batch_size"]
    full = arrays.setdefault(resolution, at_resolution(arrays[preset["master"]], resolution))
    test_rows = slice(preset["n_train_max"], preset["n_train_max"] + n_test)
    trajectories = np.concatenate([full[:n_train], full[test_rows]])
    per_epoch = n_train // batch
    epochs = max(1, round(steps / per_epoch))
    config = train_config(n_train=n_train, n_test=n_test, epochs=epochs, step_epochs=max(1, round(epochs / 5)),
                          horizon=preset["t_final"] - 10, batch_size=batch)
    curve, latest = [], {}
    began, cpu_began, load_before = time.perf_counter(), time.process_time(), os.getloadavg()

    with TrajectoryData(trajectories, splits=config.splits, first_frame=1) as data:
        assert data.split_size("train") == n_train and data.split_size("test") == n_test

        def on_epoch(epoch, record, model):
            latest["model"], step = model, epoch * per_epoch
            late = max_minutes is not None and time.perf_counter() - began > 60 * max_minutes
            if step // preset["eval_every"] > (step - per_epoch) // preset["eval_every"] or epoch == epochs or late:
                error = data.evaluate(model, "test", config)["rollout_rel_l2"]
                curve.append({"step": step, "test_rel_l2": error, "train_loss": record["train_loss"],
                              "learning_rate": record["learning_rate"], "wall_s": time.perf_counter() - began})
                print(f"  {spec}: step {step}, train loss {record['train_loss']:.4g}, test {error:.4g} "
                      f"({time.perf_counter() - began:.0f} s)", flush=True)
            if late and epoch < epochs:
                raise _OutOfTime

        model = fno_model(10, preset["modes"], preset["width"])
        try:
            result = train(model, data, config, progress=progress, callback=on_epoch, name="fno-2d")
            model, metrics, stopped = result.model, result.metrics, False
        except _OutOfTime:
            model, stopped = latest["model"], True
            metrics = data.evaluate(model, "test", config)
        train_s, cpu_s = time.perf_counter() - began, time.process_time() - cpu_began
    done = curve[-1]["step"] if curve else 0
    row = {
        "model": f"FNO-2D {resolution}^2", "resolution": resolution, "train_samples": n_train, "test_samples": n_test,
        "steps": done if stopped else epochs * per_epoch, "steps_planned": epochs * per_epoch, "steps_requested": steps,
        "epochs": epochs,
        "stopped_by_time": stopped, "error": metrics["rollout_rel_l2"], "one_step_rel_l2": metrics["one_step_rel_l2"],
        "rollout_rel_l2_per_step": metrics["rollout_rel_l2_per_step"],
        "final_train_loss": curve[-1]["train_loss"] if curve else None, "train_s": train_s,
        "s_per_step": train_s / max(1, done), "cpu_s": cpu_s, "cpu_s_per_step": cpu_s / max(1, done),
        "load_average": [round(v, 2) for v in (*load_before, *os.getloadavg())], "curve": curve, **started,
    }
    if resolution < preset["master"]:  # zero-shot on the finest grid
        finest = arrays[preset["master"]][test_rows]
        with TrajectoryData(finest, splits=(0.0, 0.0, 1.0), first_frame=1) as data:
            row[f"error_at_{preset['master']}"] = data.evaluate(model, "test", config)["rollout_rel_l2"]
    print(f"{spec}: test relative L2 {row['error']:.4g} after {row['steps']} steps ({train_s:.0f} s)", flush=True)
    return row


def power_law(x, y, targets: dict | None = None) -> dict | None:
    r"""Least-squares fit of $\log e = \log a - b \log x$ and the $x$ where $e$ reaches each target.

    `targets`: ``{name: error}`` (default: the goal 0.03 and the paper's 0.0128); the result holds
    ``x_for_<name>`` (``None`` where the law never gets there). ``None`` for fewer than two distinct x.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(set(x.tolist())) < 2:
        return None
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    a, b = float(np.exp(intercept)), float(-slope)
    reach = {}
    for name, target in (targets or {"goal": GOAL, "paper": ANCHOR_FNO_2D}).items():
        log_x = math.log(a / target) / b if b > 0 else math.inf
        reach[f"x_for_{name}"] = math.exp(log_x) if log_x < 690 else None
    return {"a": a, "b": b, "points": len(x), "x_min": float(x.min()), "x_max": float(x.max()), **reach}


def fits(rows: list[dict]) -> list[dict]:
    """Power laws against samples (fixed resolution and steps) and steps (fixed resolution and samples)."""
    out = []
    for against, fixed in (("train_samples", "steps"), ("steps", "train_samples")):
        groups = {}
        for r in rows:  # runs of one nominal length (whole epochs: 195 steps for 200 at N = 300) share a group
            groups.setdefault((r["resolution"], r.get(f"{fixed}_requested", r[fixed])), []).append(r)
        for (resolution, value), group in sorted(groups.items()):
            fit = power_law([r[against] for r in group], [r["error"] for r in group])
            if fit:
                out.append({"against": against, "resolution": resolution, fixed: value, "source": "end of run", **fit})
    longest = max(rows, key=lambda r: r["steps"], default=None)
    if longest and len(longest["curve"]) >= 3:
        points = longest["curve"]
        fit = power_law([p["step"] for p in points], [p["test_rel_l2"] for p in points])
        out.append({"against": "steps", "resolution": longest["resolution"], "train_samples": longest["train_samples"],
                    "source": f"along the {longest['steps']}-step run", **fit})
    return out


def plot(path: Path, rows: list[dict], fitted: list[dict], title: str) -> None:
    """Log-log: error against steps (left) and against training samples (right), paper and goal marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for resolution in sorted({r["resolution"] for r in rows}):
        mine = [r for r in rows if r["resolution"] == resolution]
        for r in mine:
            if len(r["curve"]) >= 2:
                axes[0].plot([p["step"] for p in r["curve"]], [p["test_rel_l2"] for p in r["curve"]], lw=0.8, alpha=0.6,
                             label=f"{resolution}^2, N={r['train_samples']}, along a {r['steps']}-step run")
        for n in sorted({r["train_samples"] for r in mine}):
            pts = sorted((r["steps"], r["error"]) for r in mine if r["train_samples"] == n)
            axes[0].plot(*zip(*pts), "o", label=f"{resolution}^2, N={n}, end of run")
        for s in sorted({r.get("steps_requested", r["steps"]) for r in mine}):
            pts = sorted((r["train_samples"], r["error"]) for r in mine if r.get("steps_requested", r["steps"]) == s)
            axes[1].plot(*zip(*pts), "o-" if len(pts) > 1 else "o", label=f"{resolution}^2, {s} steps")
    for fit in fitted:
        ax = axes[0 if fit["against"] == "steps" else 1]
        x = np.geomspace(fit["x_min"], max(fit["x_max"], min(fit["x_for_goal"] or 0, 20 * fit["x_max"])) * 1.05, 50)
        ax.plot(x, fit["a"] * x ** -fit["b"], "--", lw=0.8, color="gray")
    for ax, label in zip(axes, ("optimizer steps", "training samples")):
        ax.axhline(ANCHOR_FNO_2D, color="k", ls="--", lw=1, label="paper FNO-2D 0.0128 (64^2, T=50, 25k steps)")
        ax.axhline(GOAL, color="tab:red", ls=":", lw=1, label="goal 0.03")
        ax.set(xscale="log", yscale="log", xlabel=label, ylabel="test relative L2 (rollout)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def refit(out: Path, png: Path, name: str, preset: dict) -> dict:
    """Recompute the fits and the figure of the rows in `out` (rows without ``steps_requested`` get the
    STEPS of the ``RES:N:STEPS`` run in their command line)."""
    record = json.loads(out.read_text())
    for row in record["results"]:
        if "steps_requested" not in row:
            words = row["command"].split()
            spec = next(w for w in words if w.startswith(f"{row['resolution']}:{row['train_samples']}:"))
            row["steps_requested"] = int(spec.split(":")[2])
    record["fits"] = fits(record["results"])
    out.write_text(json.dumps(record, indent=2, default=float))
    plot(png, record["results"], record["fits"], f"FNO-2D, 2D Navier-Stokes nu = 1e-3, horizon {preset['t_final'] - 10} ({name})")
    return record


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=tuple(PRESETS), default="cpu")
    parser.add_argument("--quick", action="store_true", help="the toy preset (same as --preset quick)")
    parser.add_argument("--runs", nargs="+", help="RES:N:STEPS runs (default: all of the preset's)")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop each run after this long (whole epochs)")
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/pdesolve/fno_ns"))
    parser.add_argument("--json", default=None, help="results JSON, rows merged (default experiments/results/...)")
    parser.add_argument("--png", default=None, help="figure (default: the JSON's name with .png)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--refit", action="store_true", help="only refit and redraw the rows already in --json")
    args = parser.parse_args(argv)
    name = "quick" if args.quick else args.preset
    preset = PRESETS[name]
    out = Path(args.json or f"experiments/results/fno_learning_curve_{name}.json")
    png = Path(args.png) if args.png else out.with_suffix(".png")
    command = None if argv is None else ["experiments/fno_learning_curve.py", *argv]

    from pdesolve.bench import provenance, write_result_json

    started = provenance(SEED, command)  # the commit and command of the code that runs, taken before training
    if args.refit:
        return refit(out, png, name, preset)
    master, path, generate_s = load_master(preset, Path(args.cache_dir), not args.no_progress)
    print(f"data {path}: {master.shape} ({generate_s:.0f} s to generate or load)", flush=True)
    arrays = {preset["master"]: master}
    rows = json.loads(out.read_text())["results"] if out.exists() else []
    for spec in args.runs or preset["runs"]:
        row = run_one(spec, arrays, preset, max_minutes=args.max_minutes, progress=not args.no_progress,
                      started=started)
        key = lambda r: (r["resolution"], r["train_samples"], r["steps_planned"])  # noqa: E731
        rows = sorted([r for r in rows if key(r) != key(row)] + [row], key=key)
        fitted = fits(rows)
        best = min(rows, key=lambda r: r["error"])
        payload = {
            "name": f"fno2d_navier_stokes_nu1e-3_learning_curve_{name}", "kind": "learning_curve",
            "preset": {k: v for k, v in preset.items() if k != "runs"}, "data_file": str(path),
            "generate_or_load_s": generate_s, "anchor": "FNO-2D (Li et al. 2021), 64^2, T = 50, 1000 samples",
            "error_anchor": ANCHOR_FNO_2D, "goal": GOAL, "error_ours": best["error"],
            "goal_met": bool(best["error"] <= GOAL), "best_run": f"{best['resolution']}:{best['train_samples']}:{best['steps']}",
            "fits": fitted, "devices": [str(d) for d in jax.devices()[:1]], "results": rows, **started,
        }
        write_result_json(out, payload, seed=SEED, argv=command)
        plot(png, rows, fitted, f"FNO-2D, 2D Navier-Stokes nu = 1e-3, horizon {preset['t_final'] - 10} ({name})")
    for fit in fitted:
        print(f"fit {fit['against']} ({fit['source']}, {fit['resolution']}^2): e = {fit['a']:.3g} x^-{fit['b']:.3f}; "
              f"0.03 at {fit['x_for_goal'] or math.nan:.3g}, 0.0128 at {fit['x_for_paper'] or math.nan:.3g}")
    return payload


if __name__ == "__main__":
    main()
