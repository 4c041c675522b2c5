r"""FNO-2D on 2D Navier-Stokes (nu = 1e-3), the FNO paper's benchmark (Li et al., ICLR 2021, Table 1).

- **Data** (``pdesolve generate ns-fno``): vorticity on $(0, 1)^2$, initial field from a
  Gaussian random field ($\alpha = 2.5$, $\tau = 7$), forcing $0.1(\sin 2\pi(x+y) + \cos 2\pi(x+y))$,
  $\nu = 10^{-3}$, ETDRK4 on a finer grid, spectrally truncated, one frame per time unit.
  Frames $t = 1, \dots, T$ are used (``first_frame = 1``; $t = 0$ is dropped as in the paper's
  data).
- **Task**: input the frames $t = 1..10$, predict $t = 11..T$ autoregressively (the window of the
  last 10 frames, stacked as channels, maps to the next frame).
- **Model and training** (full scale, as in the paper's ``fourier_2d_time``): FNO-2D, 12 modes,
  width 20, 4 Fourier layers; Adam, learning rate $10^{-3}$, weight decay $10^{-4}$ (L2, as
  PyTorch ``Adam``), halved every 100 of 500 epochs, batch 20; 1000 training and 200 test
  samples at $64^2$, $T = 50$; training rolls out the whole horizon with the per-step relative
  $L^2$ loss (backpropagation through time).
- **Reported**: the test split's mean per-sample relative $L^2$ error of the whole predicted
  trajectory $t = 11..T$ (the paper's convention). **Anchor**: 0.0128 (FNO-2D), 0.0086 (FNO-3D).

``--quick`` (CPU-sized): 120 samples (100 train / 20 test) at $32^2$ solved on $64^2$, $T = 20$
(predict 10 frames), 40 epochs with the learning rate halved every 8. Its figure is NOT
comparable with the anchor (20x less data, a coarser grid, a shorter horizon, 12x fewer epochs).

Run::

    .venv/bin/python experiments/fno_navier_stokes.py --quick          # < 20 min on 2 CPU cores
    .venv/bin/python experiments/fno_navier_stokes.py                  # full scale (GPU)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax

ANCHOR_FNO_2D = 0.0128
ANCHOR_FNO_3D = 0.0086
SEED = 0  # data, model initialisation and training keys

FULL = dict(train=1000, test=200, resolution=64, solve_resolution=256, t_final=50, epochs=500, step_epochs=100)
QUICK = dict(train=100, test=20, resolution=32, solve_resolution=64, t_final=20, epochs=40, step_epochs=8)


def ns_fno_file(folder, n: int, resolution: int, solve_resolution: int, t_final: int, *, progress: bool = True,
                compression: str = "gzip") -> Path:
    """The ``ns-fno`` (nu = 1e-3) data file of `n` samples in `folder`, generated once (seeds ``SEED + i``)."""
    from pdesolve.datasets import generate

    jax.config.update("jax_enable_x64", True)  # data generation in float64; training runs in float32
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"ns_fno_nu1e-3_n{n}_r{resolution}_s{solve_resolution}_T{t_final}.h5"
    generate("ns-fno", n, resolution, path, seed=SEED, resume=True, progress=progress, nu=1e-3,
             t_final=float(t_final), solve_resolution=solve_resolution, compression=compression)
    return path


def train_config(*, n_train: int, n_test: int, epochs: int, step_epochs: int, horizon: int, batch_size: int = 20,
                 lr: float = 1e-3, weight_decay: float = 1e-4, window: int = 10, rollout_steps: int | None = None,
                 devices: int = 1):
    """The paper's training set-up: Adam with L2 weight decay, the rate halved every `step_epochs`,
    frames 1.. of each sample, `window` frames in, backpropagation through `rollout_steps` (default:
    the whole `horizon`)."""
    from pdesolve.training import TrainConfig

    n = n_train + n_test
    return TrainConfig(
        epochs=epochs, batch_size=batch_size, learning_rate=lr, optimizer="adam",
        weight_decay=weight_decay, schedule="step", step_epochs=step_epochs, decay=0.5,
        window=window, rollout_steps=rollout_steps or horizon, start="first", seed=SEED, dtype="float32",
        devices=devices, splits=(n_train / n, 0.0, n_test / n), first_frame=1, eval_every=0,
        eval_batch_size=20,
    )


def fno_model(window: int = 10, modes: int = 12, width: int = 20):
    """FNO-2D of the paper: `window` frames (+ 2 coordinates) in, one frame out, 4 Fourier layers."""
    from pdesolve.training import build_model

    return build_model("fno", in_channels=window, out_channels=1, ndim=2, key=jax.random.PRNGKey(SEED),
                       modes=modes, width=width)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CPU-sized run (see the module docstring)")
    parser.add_argument("--train", type=int, default=None, help="training samples (1000; quick 100)")
    parser.add_argument("--test", type=int, default=None, help="test samples (200; quick 20)")
    parser.add_argument("--resolution", type=int, default=None, help="grid points per axis (64; quick 32)")
    parser.add_argument("--solve-resolution", type=int, default=None, help="solver grid (256; quick 64)")
    parser.add_argument("--t-final", type=int, default=None, help="last frame T (50; quick 20)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (500; quick 40)")
    parser.add_argument("--step-epochs", type=int, default=None, help="halve the learning rate every (100; quick 8)")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--modes", type=int, default=12)
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--rollout-steps", type=int, default=None,
                        help="frames rolled out in training (default: the whole horizon T - 10)")
    parser.add_argument("--devices", type=int, default=1, help="data-parallel devices")
    parser.add_argument("--out", default=None, help="run folder (runs/fno_navier_stokes[_quick])")
    parser.add_argument("--data", default=None, help="use this HDF5 file instead of generating one")
    parser.add_argument("--resume", action="store_true", help="continue the training run in --out")
    parser.add_argument("--overwrite", action="store_true", help="start afresh over the training run in --out")
    parser.add_argument("--json", default=None, help="also write the results JSON here")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)  # data generation in float64; training runs in float32

    from pdesolve.bench import write_result_json
    from pdesolve.training import TrajectoryData, train

    preset = QUICK if args.quick else FULL
    pick = lambda name: getattr(args, name) if getattr(args, name) is not None else preset[name]  # noqa: E731
    n_train, n_test, resolution = pick("train"), pick("test"), pick("resolution")
    solve_resolution, t_final, epochs, step_epochs = pick("solve_resolution"), pick("t_final"), pick("epochs"), pick("step_epochs")
    n = n_train + n_test
    out = Path(args.out or ("runs/fno_navier_stokes_quick" if args.quick else "runs/fno_navier_stokes"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.data is None:
        data_file = ns_fno_file(out, n, resolution, solve_resolution, t_final, progress=not args.no_progress)
    else:
        data_file = Path(args.data)
    generate_s = time.perf_counter() - t0
    horizon = t_final - args.window
    config = train_config(n_train=n_train, n_test=n_test, epochs=epochs, step_epochs=step_epochs, horizon=horizon,
                          batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, window=args.window,
                          rollout_steps=args.rollout_steps, devices=args.devices)
    with TrajectoryData(data_file, splits=config.splits, first_frame=1) as data:
        if data.num_times != t_final or data.split_size("train") != n_train or data.split_size("test") != n_test:
            raise SystemExit(f"{data_file}: expected {t_final} frames after t=0 and {n_train}/{n_test} samples, got {data}")
        model = fno_model(args.window, args.modes, args.width)
        t0 = time.perf_counter()
        result = train(model, data, config, out=out / "run", resume=args.resume, overwrite=args.overwrite,
                       progress=not args.no_progress, name="fno-2d")
        train_s = time.perf_counter() - t0
    m = result.metrics
    used = dict(train=n_train, test=n_test, resolution=resolution, solve_resolution=solve_resolution, t_final=t_final,
                epochs=epochs, step_epochs=step_epochs)
    comparable = (used == FULL and args.batch_size == 20 and args.lr == 1e-3 and args.weight_decay == 1e-4
                  and args.modes == 12 and args.width == 20 and args.window == 10 and config.rollout_steps == horizon)
    payload = {
        "name": "fno2d_navier_stokes_nu1e-3" + ("_quick" if args.quick else ""),
        "quick": args.quick,
        "config": {"train": n_train, "test": n_test, "resolution": resolution, "solve_resolution": solve_resolution,
                   "t_final": t_final, "modes": args.modes, "width": args.width, **config.to_dict()},
        "error_ours": m["rollout_rel_l2"],
        "anchor": "FNO-2D (Li et al. 2021)",
        "error_anchor": ANCHOR_FNO_2D,
        "error_anchor_fno3d": ANCHOR_FNO_3D,
        "goal_met": bool(m["rollout_rel_l2"] <= ANCHOR_FNO_2D),
        "comparable_to_anchor": comparable,
        "one_step_rel_l2": m["one_step_rel_l2"],
        "rollout_nrmse_pdebench": m["rollout_nrmse_pdebench"],
        "rollout_rel_l2_per_step": m["rollout_rel_l2_per_step"],
        "final_train_loss": m["final_train_loss"],
        "generate_s": generate_s,
        "train_s": train_s,
        "devices": [str(d) for d in jax.devices()[: args.devices]],
    }
    label = "full scale" if comparable else ("quick, NOT comparable" if args.quick else "custom, NOT comparable")
    print(f"FNO-2D NS nu=1e-3 ({label}): relative L2 ours {m['rollout_rel_l2']:.4g} | FNO-2D paper {ANCHOR_FNO_2D} | "
          f"FNO-3D paper {ANCHOR_FNO_3D}  ({n_train}/{n_test} samples, {resolution}^2, T={t_final}, {epochs} epochs; "
          f"generate {generate_s:.0f} s, train {train_s:.0f} s)")
    command = None if argv is None else ["experiments/fno_navier_stokes.py", *argv]
    write_result_json(out / "results.json", payload, seed=SEED, argv=command)
    if args.json:
        write_result_json(args.json, payload, seed=SEED, argv=command)
    return payload


if __name__ == "__main__":
    main()
