#!/usr/bin/env bash
# TENG at the paper's configuration on its three problems, sized for a 10-minute GPU slot.
#
# 1. One initial fit of the paper's network (width 40, depth 7, 8,361 parameters) to the paper's
#    u0 (the three problems share it), Adam then geodesic Levenberg-Marquardt on random parameter
#    subsets, stopped after FIT_MINUTES.
# 2. TENG-Heun at `--config paper` (256^2 collocation, dt = 0.005, 1,024-parameter subsets, 7
#    projections per stage) on heat, Allen-Cahn and Burgers from that fit, each march stopped
#    after MARCH_MINUTES: the longest prefix of [0, 4] it reaches, with the error every 10 steps
#    against the exact (heat) or spectral (Allen-Cahn, Burgers) reference.
#
#   bash experiments/teng_gpu.sh                 # on a GPU: about 3 + 3 x 1.8 minutes plus start-up
#   QUICK=1 bash experiments/teng_gpu.sh         # the same wiring at toy sizes, on a CPU in ~2 minutes
#
# Writes $OUT/teng_initial_paper.npz, $OUT/teng_initial_fit_paper_gpu.json and $OUT/teng_paper_gpu.json
# (OUT defaults to experiments/results; each JSON records the command, seed, commit and device).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
OUT=${OUT:-experiments/results}
mkdir -p "$OUT"
if [ "${QUICK:-0}" = "1" ]; then
    FIT_ARGS=(--points 16 --adam-steps 200 --lm-steps 5 --subset 512 --max-minutes 0.5)
    MARCH_SET=(n=16 subset=256 inner=2 rcond=1e-6 max_minutes=0.15 error_every=2 final_time=0.1)
    SUFFIX=_quick
else
    FIT_ARGS=(--max-minutes "${FIT_MINUTES:-3}")
    MARCH_SET=(max_minutes="${MARCH_MINUTES:-1.8}" error_every=10)
    SUFFIX=_gpu
fi
"$PYTHON" experiments/teng_initial_fit.py --size paper "${FIT_ARGS[@]}" \
    --network-out "$OUT/teng_initial_paper$SUFFIX.npz" --out "$OUT/teng_initial_fit_paper$SUFFIX.json"
"$PYTHON" experiments/teng.py --config paper --methods teng --problems heat allen-cahn burgers --no-progress \
    --set initial_fit="$OUT/teng_initial_paper$SUFFIX.npz" "${MARCH_SET[@]}" --out "$OUT/teng_paper$SUFFIX.json"
