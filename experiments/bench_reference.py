"""Reproduce the "reference solvers vs exponax" table in experiments/README.md.

Usage:
    python experiments/bench_reference.py [--resolution 128] [--steps 1000] [--out results.json]

Same as `pdesolve bench reference --json`, plus the JSON (with the command, seed, commit, version
and date that produced it) is saved to --out.
"""

import argparse
import sys

import jax

jax.config.update("jax_enable_x64", False)  # float32 comparison


def main() -> int:
    from pdesolve.bench import format_table, run_reference_benchmark, write_result_json

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="write the JSON result here")
    args = parser.parse_args()
    result = run_reference_benchmark(resolution=args.resolution, num_steps=args.steps, repeats=args.repeats)
    print(format_table(result))
    if args.out:
        write_result_json(args.out, result, seed=result.get("seed"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
