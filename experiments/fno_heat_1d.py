r"""FNO-1D on the 1D heat equation with random initial data: one-step prediction error.

- **Data**: ``pdesolve generate heat1d`` — $u_t = \nu u_{xx}$ on $[0, 2\pi)$, $\nu = 0.02$,
  random Fourier-series initial data (modes $|m| \le 6$), exact exponential stepping, frames
  every $\Delta t = 0.1$ up to $t = 2$ (21 frames), 64 points. 80/10/10 train/val/test split.
- **Model**: :class:`pdesolve.operators.FNO` (1D, 16 modes, width 32, 4 layers), one input
  frame, trained on one-step pairs $(u_n, u_{n+1})$ at random $n$ with the relative $L^2$ loss,
  Adam + cosine schedule (``pdesolve.training.train``).
- **Reported**: the test split's teacher-forced one-step relative $L^2$ error (every frame
  predicted from the true frame before it, per-frame error averaged over frames and samples),
  plus the 20-step rollout error. **Goal: at most 1 % one-step.**

Run::

    .venv/bin/python experiments/fno_heat_1d.py            # full (1000 samples)
    .venv/bin/python experiments/fno_heat_1d.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np

GOAL = 0.01
SEED = 0  # data, model initialisation and training keys


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 samples, 15 epochs")
    parser.add_argument("--n", type=int, default=None, help="samples (1000; quick 200)")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=None, help="epochs (60; quick 15)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--modes", type=int, default=16)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--residual", action="store_true", help="predict the increment u[n+1] - u[n]")
    parser.add_argument("--out", default="runs/fno_heat_1d", help="run folder (data, checkpoint, figures)")
    parser.add_argument("--resume", action="store_true", help="continue the training run in --out")
    parser.add_argument("--overwrite", action="store_true", help="start afresh over the training run in --out")
    parser.add_argument("--json", default=None, help="also write the results JSON here")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)  # data generation in float64; training runs in float32

    from pdesolve.bench import write_result_json
    from pdesolve.datasets import generate
    from pdesolve.training import TrainConfig, TrajectoryData, build_model, train

    n = args.n or (200 if args.quick else 1000)
    epochs = args.epochs or (15 if args.quick else 60)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data_file = out / f"heat1d_n{n}_r{args.resolution}.h5"
    t0 = time.perf_counter()
    generate("heat1d", n, args.resolution, data_file, seed=SEED, resume=True, progress=not args.no_progress)
    generate_s = time.perf_counter() - t0
    config = TrainConfig(
        epochs=epochs, batch_size=args.batch_size, learning_rate=args.lr, optimizer="adam", schedule="cosine",
        window=1, rollout_steps=1, start="random", residual=args.residual, seed=SEED, dtype="float32",
        splits=(0.8, 0.1, 0.1), eval_every=5, eval_batch_size=50,
    )
    with TrajectoryData(data_file, splits=config.splits) as data:
        model = build_model("fno", in_channels=1, out_channels=1, ndim=1, key=jax.random.PRNGKey(SEED),
                            modes=args.modes, width=args.width)
        t0 = time.perf_counter()
        result = train(model, data, config, out=out / "run", resume=args.resume, overwrite=args.overwrite,
                       progress=not args.no_progress, name="fno-1d")
        train_s = time.perf_counter() - t0
        # Persistence baseline u[n+1] ~ u[n]: what one-step prediction must beat.
        test = data.read(data.indices["test"])
        b, t1 = test.shape[0], test.shape[1] - 1
        step_change = np.linalg.norm((test[:, 1:] - test[:, :-1]).reshape(b, t1, -1), axis=-1)
        persistence = float(np.mean(step_change / np.linalg.norm(test[:, 1:].reshape(b, t1, -1), axis=-1)))
    m = result.metrics
    payload = {
        "name": "fno_heat_1d_one_step",
        "config": {"n": n, "resolution": args.resolution, "modes": args.modes, "width": args.width,
                   "quick": args.quick, **config.to_dict()},
        "one_step_rel_l2": m["one_step_rel_l2"],
        "rollout_rel_l2": m["rollout_rel_l2"],
        "rollout_steps": m["rollout_steps"],
        "persistence_one_step_rel_l2": persistence,
        "rollout_nrmse_pdebench": m["rollout_nrmse_pdebench"],
        "goal": GOAL,
        "goal_met": m["one_step_rel_l2"] <= GOAL,
        "generate_s": generate_s,
        "train_s": train_s,
        "test_samples": m["samples"],
    }
    print(f"FNO-1D heat, one-step relative L2: ours {m['one_step_rel_l2']:.4g} | goal <= {GOAL} | "
          f"{'met' if payload['goal_met'] else 'NOT met'}  (persistence u[n+1]=u[n]: {persistence:.4g}; rollout {m['rollout_steps']} steps: {m['rollout_rel_l2']:.4g}; "
          f"train {train_s:.0f} s)")
    command = None if argv is None else ["experiments/fno_heat_1d.py", *argv]
    write_result_json(out / "results.json", payload, seed=SEED, argv=command)
    if args.json:
        write_result_json(args.json, payload, seed=SEED, argv=command)
    return payload


if __name__ == "__main__":
    main()
