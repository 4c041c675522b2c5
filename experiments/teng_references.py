"""Self-convergence of the spectral references of the TENG problems (Allen-Cahn, Burgers) at T = 4.

Each reference is ETDRK4 on the problem's ``spectral_resolution`` grid with its ``reference_dt``
(``pdesolve.problems.spectral_reference``, cached under ``$PDESOLVE_CACHE``). This script compares
it at T with the solve on a 1.5x finer grid (Fourier-interpolated onto the reference grid) and
with the solve at half the time step, as relative L2 differences, and writes them with provenance:

    OMP_NUM_THREADS=2 python experiments/teng_references.py                     # both problems
    python experiments/teng_references.py --problems allen-cahn --out experiments/results/teng_references.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from pdesolve.bench import write_result_json  # noqa: E402
from pdesolve.problems import FieldProblem, fourier_resample, get, spectral_reference  # noqa: E402


def _relative(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def check(name: str, final_time: float) -> dict:
    problem = get(f"teng-{name}", FieldProblem)
    n, dt = problem.spectral_resolution, problem.reference_dt
    fine = 3 * n // 2
    start = time.perf_counter()
    u = spectral_reference(problem, final_time)
    wall = time.perf_counter() - start
    u_fine = fourier_resample(spectral_reference(problem, final_time, fine), n)
    u_half = spectral_reference(problem, final_time, n, dt / 2)
    return dict(problem=problem.name, final_time=final_time, resolution=n, dt=dt,
                dealiasing_fraction=problem.spectral_options.get("dealiasing_fraction", 2 / 3),
                fine_resolution=fine, relative_l2_vs_fine_grid=_relative(u, u_fine),
                relative_l2_vs_half_dt=_relative(u, u_half), reference_wall_s=wall,
                max_abs=float(np.max(np.abs(u))))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="+", default=["allen-cahn", "burgers"], choices=["allen-cahn", "burgers"])
    parser.add_argument("--final-time", type=float, default=4.0)
    parser.add_argument("--out", default="experiments/results/teng_references.json")
    args = parser.parse_args(argv)
    rows = []
    for name in args.problems:
        rows.append(check(name, args.final_time))
        print({k: rows[-1][k] for k in ("problem", "resolution", "relative_l2_vs_fine_grid", "relative_l2_vs_half_dt")},
              flush=True)
        write_result_json(Path(args.out), {"results": rows, "provenance_note": "seed is null: the spectral solves "
                                           "draw nothing at random"}, seed=None, argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
