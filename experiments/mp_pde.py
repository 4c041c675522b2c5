r"""Message-passing neural PDE solver (MP-PDE) on the combined equation, against a numerical solver.

Reproduces Table 1 of Brandstetter, Worrall & Welling (ICLR 2022) at a chosen scale:

- **Data** (:func:`pdesolve.datasets.generate_combined_dataset`): E1/E2/E3 of the combined
  equation $u_t = -\alpha(u^2/2)_x + \beta u_{xx} - \gamma u_{xxx} + \delta(t,x)$ on $[0,16)$,
  solved at $n_x = 200$ (WENO5 flux + non-autonomous ETDRK4), subsampled to $n_x = 100, 50, 40$;
  250 frames on $[0, 4]$ ($[0, 2]$ for E3). Disjoint seeds: train from 0, valid from 10^6,
  test from 2*10^6.
- **Model**: :class:`pdesolve.mp_pde.MPPDE` (K = 25 bundle, 6 layers, hidden 128),
  trained with :func:`pdesolve.mp_pde.fit_mp_pde` (pushforward, AdamW); the
  checkpoint with the lowest validation error (evaluated at the end of each epoch) is kept.
- **Metric**: accumulated error $\sum_t \mathrm{mean}_x (u - u_{gt})^2$ over the predicted
  frames $t = 2K .. 249$ (the first $2K = 50$ frames are given, as in the paper's evaluation),
  averaged over the test trajectories.
- **Baseline**: our WENO5 + ETDRK4 solver run directly on the coarse grid, started from the
  ground truth at frame $2K - 1$, on the same test set in the same run.
- **Persistence**: the last given frame held constant (a floor any useful model must beat).
- **Times**: wall time per trajectory for one trajectory alone (batch 1) and amortised over
  the whole test set in one vmapped call, both after compilation.

Usage::

    python experiments/mp_pde.py --quick                     # E1, nx=100, < 20 min on 2 CPU cores
    python experiments/mp_pde.py                             # full scale (GPU): E1-E3, nx=100/50/40
    python experiments/mp_pde.py --experiments E1 --resolutions 100 --json out.json
    python experiments/mp_pde.py --generate-only --data-dir data   # only the HDF5 datasets (E1-E3)
    python experiments/mp_pde.py --config e1-nx40 --json out.json --curve out_curve.json  # E1 at nx=40, ~1 epoch

``--config e1-nx40``: coarse data as the paper's authors make it (:class:`pdesolve.datasets.NeighbourAverage`),
512 trajectories, 8 x 1000 steps (one paper epoch is $n_t N / 16 = 8000$ steps at $N = 512$);
``--curve`` writes the test error every 1000 steps as a learning curve (JSON, PNG, power-law fit).

The quick configuration trains far less than the paper (see ``CONFIGS``), so its MP-PDE errors
are not comparable to the paper's; the full configuration is the paper's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import equinox as eqx
import jax.numpy as jnp
import numpy as np

from pdesolve.bench import write_result_json  # noqa: E402
from pdesolve.datasets import (
    NeighbourAverage,
    PointSubsampling,
    default_steps_per_save,
    generate_combined_dataset,
    load_combined_dataset,
    solve_combined_batch,
)
from pdesolve.metrics import accumulated_error
from pdesolve.mp_pde import MPPDE, fit_mp_pde, radius_graph, rollout_mp_pde

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fno_learning_curve import power_law  # noqa: E402

PAPER_MP_PDE = {"E1": (1.55, 1.67, 1.47), "E2": (1.58, 1.63, 1.45), "E3": (4.26, 3.74, 3.70)}
PAPER_WENO5 = {"E1": (2.02, 6.23, 9.63)}
PAPER_RESOLUTIONS = (100, 50, 40)
PAPER_TIMES = {"mp_pde_s": 0.09, "solver_s": 1.9}
SEEDS = {"train": 0, "valid": 1_000_000, "test": 2_000_000}

CONFIGS = {
    # The paper's setup (Sec. 4.1 and Appendix): 2048/128/128 samples, 20 epochs, every start
    # frame of every sample once per epoch in expectation (nt * N / batch iterations), lr 1e-4.
    "full": {
        "experiments": ("E1", "E2", "E3"),
        "resolutions": (100, 50, 40),
        "num_train": 2048, "num_valid": 128, "num_test": 128,
        "epochs": 20, "iterations_per_epoch": None, "batch_size": 16, "learning_rate": 1e-4,
        "hidden": 128, "num_layers": 6, "max_unroll": 1, "lr_milestones": None,
    },
    # CPU smoke scale: same model, far fewer samples and steps, a larger learning rate.
    "quick": {
        "experiments": ("E1",),
        "resolutions": (100,),
        "num_train": 256, "num_valid": 16, "num_test": 32,
        "epochs": 3, "iterations_per_epoch": 150, "batch_size": 16, "learning_rate": 1e-3,
        "hidden": 128, "num_layers": 6, "max_unroll": 1, "lr_milestones": (2,),
    },
    # E1 at nx = 40 on the authors' averaged coarse data: 512 trajectories, 8 x 1000 steps (about one paper
    # epoch), lr 1e-3 x0.4 at 4000, 6000 and 7000 steps.
    "e1-nx40": {
        "experiments": ("E1",),
        "resolutions": (40,),
        "num_train": 512, "num_valid": 32, "num_test": 128,
        "epochs": 8, "iterations_per_epoch": 1000, "batch_size": 16, "learning_rate": 1e-3,
        "hidden": 128, "num_layers": 6, "max_unroll": 1, "lr_milestones": (4, 6, 7), "downsampling": "average",
    },
    # The e1-nx40 wiring at toy size (tests).
    "toy": {
        "experiments": ("E1",),
        "resolutions": (40,),
        "num_train": 4, "num_valid": 2, "num_test": 2,
        "epochs": 2, "iterations_per_epoch": 2, "batch_size": 2, "learning_rate": 1e-3,
        "hidden": 64, "num_layers": 1, "max_unroll": 1, "lr_milestones": (1,), "downsampling": "average",
    },
}
DOWNSAMPLING = {"points": PointSubsampling(), "average": NeighbourAverage(width=5)}
WINDOW = 25
PAPER_MP_PDE_NX40 = PAPER_MP_PDE["E1"][2]
GOAL = 3.0


def _time(fn, *args, repeats: int = 3) -> float:
    jax.block_until_ready(fn(*args))  # compile
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def make_data(data_dir, experiment, config, resolutions):
    paths = {}
    for split in ("train", "valid", "test"):
        n = config[f"num_{split}"]
        targets = {r: os.path.join(data_dir, f"{experiment}_{split}_nx{r}.h5") for r in resolutions}
        reuse = all(os.path.exists(p) for p in targets.values())
        if reuse:
            try:
                reuse = all(load_combined_dataset(p).u.shape[0] == n for p in targets.values())
            except Exception:  # noqa: BLE001 - any unreadable file is regenerated
                reuse = False
        if not reuse:
            out = generate_combined_dataset(
                data_dir, experiment, n, split=split, seed=SEEDS[split], resolutions=resolutions, progress=False,
                downsampling=DOWNSAMPLING[config.get("downsampling", "points")],
            )
            print(f"  generated {experiment} {split}: {n} samples at nx=200 in {out['seconds']:.1f} s", flush=True)
        paths[split] = targets
    return paths


def evaluate_model(rollout, model, data, start):
    """Mean accumulated error over frames start..nt-1, and the rollout's inputs."""
    u = jnp.asarray(data.u, jnp.float32)
    theta = jnp.asarray(data.params, jnp.float32)
    t_start = jnp.full((u.shape[0],), data.t[start - 1], jnp.float32)
    pred = rollout(model, u[:, start - WINDOW : start], t_start, theta)
    errors = np.asarray(accumulated_error(pred, u[:, start:]))
    return float(np.mean(errors)), (u, t_start, theta, np.asarray(pred))


def run_one(experiment, resolution, config, paths, key, progress, figures=None):
    train = load_combined_dataset(paths["train"][resolution], resolution=resolution)
    valid = load_combined_dataset(paths["valid"][resolution], resolution=resolution)
    test = load_combined_dataset(paths["test"][resolution], resolution=resolution)
    dt = float(train.t[1] - train.t[0])
    x = jnp.asarray(train.x, jnp.float32)
    graph = radius_graph(train.x, 3 * 16.0 / resolution, 16.0)
    start = 2 * WINDOW
    num_steps = train.u.shape[1] - start
    rollout = eqx.filter_jit(lambda m, w, ts, th: rollout_mp_pde(m, w, ts, th, x, graph, num_steps))
    model = MPPDE(
        dt=dt, extent=16.0, t_final=float(train.t[-1]), window=WINDOW, hidden=config["hidden"],
        num_layers=config["num_layers"], key=key, dtype=jnp.float32,
    )
    iterations = config["iterations_per_epoch"] or (train.u.shape[1] * train.u.shape[0] // config["batch_size"])
    best = [float("inf"), model, -1]
    valid_errors, test_curve = [], []
    clock = [time.perf_counter()]

    def on_epoch(epoch, current):
        valid_error, _ = evaluate_model(rollout, current, valid, start)
        valid_errors.append(valid_error)
        test_curve.append({"step": epoch * iterations, "valid_error": valid_error,
                           "test_error": evaluate_model(rollout, current, test, start)[0]})
        print(
            f"  {experiment} nx={resolution} epoch {epoch}/{config['epochs']}: valid accumulated error "
            f"{valid_error:.4g}, test {test_curve[-1]['test_error']:.4g} ({time.perf_counter() - clock[0]:.0f} s)",
            flush=True,
        )
        clock[0] = time.perf_counter()
        if valid_error < best[0]:
            best[:] = [valid_error, current, epoch - 1]

    t0, cpu0 = time.perf_counter(), time.process_time()
    model, hist = fit_mp_pde(
        model, train.u, train.params, train.x, train.t, graph, epochs=config["epochs"],
        iterations_per_epoch=iterations, batch_size=config["batch_size"], learning_rate=config["learning_rate"],
        max_unroll=config["max_unroll"], lr_milestones=config["lr_milestones"], key=key, progress=progress,
        epoch_callback=on_epoch,
    )
    train_seconds, train_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    history = {"loss": hist["loss"], "valid_error": valid_errors}
    model = best[1]
    test_error, (u, t_start, theta, prediction) = evaluate_model(rollout, model, test, start)
    batch_s = _time(rollout, model, u[:, start - WINDOW : start], t_start, theta) / u.shape[0]
    single_s = _time(rollout, model, u[:1, start - WINDOW : start], t_start[:1], theta[:1])

    # Coarse numerical solver on the same test trajectories, from the ground truth at start - 1.
    params = test.parameter_dicts()
    times = test.t[start - 1 :]
    steps = default_steps_per_save(experiment, resolution, float(times[1] - times[0]))
    u_start = test.u[:, start - 1].astype(np.float64)
    solved = solve_combined_batch(params, resolution, times, steps, u0=u_start)
    solver_error = float(np.mean(np.asarray(accumulated_error(solved[:, 1:], test.u[:, start:].astype(np.float64)))))
    solver_batch_s = _timed_solve(params, resolution, times, steps, u_start) / u_start.shape[0]
    one = {k: v[:1] for k, v in params.items()}
    solver_single_s = _timed_solve(one, resolution, times, steps, u_start[:1])
    truth = test.u[:, start:].astype(np.float64)
    figure = None
    if figures:  # named in the record, so `pdesolve report` shows it with this result
        figure = f"mp_pde_{experiment}_nx{resolution}.png"
        plot_results(os.path.join(figures, figure), test, start, prediction,
                     solved[:, 1:], f"{experiment}, nx = {resolution}")
    persistence_error = float(np.mean(np.sum(np.mean((truth - test.u[:, start - 1 : start]) ** 2, -1), -1)))
    return {
        "experiment": experiment,
        "resolution": resolution,
        "figure": figure,
        "mp_pde_error": test_error,
        "solver_error": solver_error,
        "persistence_error": persistence_error,
        "mp_pde_s_per_trajectory_single": single_s,
        "mp_pde_s_per_trajectory_batched": batch_s,
        "solver_s_per_trajectory_single": solver_single_s,
        "solver_s_per_trajectory_batched": solver_batch_s,
        "solver_steps_per_frame": steps,
        "best_epoch": best[2] + 1,
        "valid_error_per_epoch": history["valid_error"],
        "curve": test_curve,
        "num_train": int(train.u.shape[0]),
        "downsampling": DOWNSAMPLING[config.get("downsampling", "points")].describe(),
        "final_train_loss": float(np.mean(history["loss"][-50:])),
        "train_seconds": train_seconds,
        "train_cpu_s": train_cpu_s,
        "train_steps": len(history["loss"]),
        "train_s_per_step": train_seconds / max(1, len(history["loss"])),
        "num_parameters": int(sum(a.size for a in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array)))),
    }


def _timed_solve(params, resolution, times, steps, u0):
    best = float("inf")
    for _ in range(2):  # the first call compiles (jit cache is per shape), keep the faster
        start = time.perf_counter()
        solve_combined_batch(params, resolution, times, steps, u0=u0)
        best = min(best, time.perf_counter() - start)
    return best


def plot_results(path, test, start, prediction, solved, title):
    """Rollout vs truth (space-time, test trajectory 0) and the mean spatial MSE over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = test.u[:, start:]
    times = test.t[start:]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    extent = (test.x[0], 16.0, times[0], times[-1])
    vmax = float(np.max(np.abs(truth[0])))
    for ax, field, name in zip(axes[:3], (truth[0], prediction[0], solved[0]), ("ground truth", "MP-PDE", "our solver")):
        im = ax.imshow(field, origin="lower", aspect="auto", extent=extent, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set(title=f"{name} (test 0)", xlabel="x", ylabel="t")
    fig.colorbar(im, ax=axes[2])
    for field, name in ((prediction, "MP-PDE"), (solved, "our solver")):
        axes[3].semilogy(times, np.mean((field - truth) ** 2, axis=(0, 2)), label=name)
    axes[3].set(title="spatial MSE (test mean)", xlabel="t")
    axes[3].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_curve(path, results, config, *, seed):
    """Test accumulated error against optimizer steps (one row per evaluation) as a learning-curve JSON and PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = next((r for r in results if r["resolution"] == 40), results[0])
    label = f"MP-PDE {r['experiment']} nx={r['resolution']}"
    rows = [{"model": label, "train_samples": r["num_train"], "steps": p["step"], "error": p["test_error"],
             "valid_error": p["valid_error"]} for p in r["curve"]]
    half = rows[len(rows) // 2 :]  # the trend of the later half of the run
    fit = power_law([p["steps"] for p in half], [p["error"] for p in half], {"goal": GOAL, "paper": PAPER_MP_PDE_NX40})
    payload = {"name": f"mp_pde_{r['experiment']}_nx{r['resolution']}_curve", "kind": "learning_curve",
               "config": config, "anchor": "MP-PDE (Brandstetter et al. 2022), E1 nx = 40",
               "error_anchor": PAPER_MP_PDE_NX40, "paper_weno5": PAPER_WENO5["E1"][2], "goal": GOAL,
               "error_ours": r["mp_pde_error"], "goal_met": bool(r["mp_pde_error"] <= GOAL),
               "solver_error": r["solver_error"], "persistence_error": r["persistence_error"],
               "fit_second_half": fit, "run": r, "results": rows}
    write_result_json(path, payload, seed=seed)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.plot([p["steps"] for p in rows], [p["error"] for p in rows], "o-", label=f"{label}, test (N = {r['num_train']})")
    ax.plot([p["steps"] for p in rows], [p["valid_error"] for p in rows], ".:", label="validation")
    if fit:
        x = np.geomspace(half[0]["steps"], max(rows[-1]["steps"], fit["x_for_goal"] or 0) * 1.05, 50)
        ax.plot(x, fit["a"] * x ** -fit["b"], "--", color="gray", lw=0.8, label=f"fit e = {fit['a']:.3g} s^-{fit['b']:.2f}")
    for value, style, text in ((PAPER_MP_PDE_NX40, "k--", "paper MP-PDE 1.47"), (GOAL, "r:", "goal 3.0"),
                               (PAPER_WENO5["E1"][2], "c-.", "paper WENO5 9.63"),
                               (r["solver_error"], "g-.", f"our solver {r['solver_error']:.3g}")):
        ax.axhline(value, color=style[0], ls=style[1:], lw=1, label=text)
    ax.set(xscale="log", yscale="log", xlabel="optimizer steps (batch 16)", ylabel="accumulated error (test)",
           title=f"{label}: accumulated error against steps")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.splitext(path)[0] + ".png", dpi=100)
    plt.close(fig)


def format_table(results):
    lines = [
        f"{'exp':4} {'nx':>4}  {'paper MP-PDE':>12}  {'paper WENO5':>11}  {'our MP-PDE':>10}  {'our solver':>10}  "
        f"{'persistence':>11}  {'MP-PDE s/traj':>13}  {'solver s/traj':>13}",
    ]
    for r in results:
        col = PAPER_RESOLUTIONS.index(r["resolution"]) if r["resolution"] in PAPER_RESOLUTIONS else None
        paper = PAPER_MP_PDE.get(r["experiment"])
        weno = PAPER_WENO5.get(r["experiment"])
        p = f"{paper[col]:.2f}" if paper and col is not None else "-"
        w = f"{weno[col]:.2f}" if weno and col is not None else "-"
        lines.append(
            f"{r['experiment']:4} {r['resolution']:>4}  {p:>12}  {w:>11}  {r['mp_pde_error']:>10.3f}  "
            f"{r['solver_error']:>10.3f}  {r.get('persistence_error', float('nan')):>11.3f}  "
            f"{r['mp_pde_s_per_trajectory_single']:>13.3g}  "
            f"{r['solver_s_per_trajectory_single']:>13.3g}"
        )
    lines.append(
        f"paper times per trajectory: MP-PDE {PAPER_TIMES['mp_pde_s']} s, numerical solver {PAPER_TIMES['solver_s']} s (GPU)"
    )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CPU smoke scale (E1, nx=100); same as --config quick")
    parser.add_argument("--config", choices=tuple(CONFIGS), default=None, help="a named configuration (full)")
    parser.add_argument("--curve", help="write the test error against steps as a learning curve here (+ .png)")
    parser.add_argument("--experiments", nargs="+", choices=("E1", "E2", "E3"))
    parser.add_argument("--resolutions", nargs="+", type=int, choices=(100, 50, 40))
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--iterations-per-epoch", type=int)
    parser.add_argument("--num-train", type=int)
    parser.add_argument("--lr-milestones", type=int, nargs="+", help="epochs at which the learning rate drops x0.4")
    parser.add_argument("--data-dir", default="mp_pde_data")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", action="store_true", help="show a training progress bar")
    parser.add_argument("--generate-only", action="store_true", help="only write the HDF5 datasets")
    parser.add_argument("--figures", help="folder for rollout-vs-truth and error-over-time PNGs")
    args = parser.parse_args(argv)
    preset = "quick" if args.quick else (args.config or "full")
    config = dict(CONFIGS[preset])
    for name in ("experiments", "resolutions", "epochs", "iterations_per_epoch", "num_train", "lr_milestones"):
        if getattr(args, name) is not None:
            value = getattr(args, name)
            config[name] = tuple(value) if name in ("experiments", "resolutions", "lr_milestones") else value
    print(f"config: {json.dumps(config)}", flush=True)
    print(f"device: {jax.devices()[0].platform}", flush=True)
    start = time.perf_counter()
    results = []
    for experiment in config["experiments"]:
        paths = make_data(os.path.join(args.data_dir, preset), experiment, config, config["resolutions"])
        if args.generate_only:
            print(json.dumps({experiment: {split: list(p.values()) for split, p in paths.items()}}))
            continue
        for resolution in config["resolutions"]:
            key = jax.random.PRNGKey(args.seed)
            if args.figures:
                os.makedirs(args.figures, exist_ok=True)
            results.append(run_one(experiment, resolution, config, paths, key, args.progress, args.figures))
            print(format_table(results[-1:]).splitlines()[1], flush=True)
    total = time.perf_counter() - start
    print()
    print(format_table(results))
    print(f"total wall time {total:.0f} s")
    if args.json:
        write_result_json(args.json, {"config": config, "results": results, "total_s": total,
                                      "paper": {"mp_pde": PAPER_MP_PDE, "weno5": PAPER_WENO5,
                                                "resolutions": PAPER_RESOLUTIONS, "times": PAPER_TIMES}},
                          seed=args.seed)
    if args.curve:
        write_curve(args.curve, results, config, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
