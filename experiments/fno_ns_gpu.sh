#!/usr/bin/env bash
# FNO-2D on 2D Navier-Stokes (nu = 1e-3) at the FNO paper's set-up, sized for a 10-minute GPU slot.
#
# 1. Data (`--preset gpu` of experiments/fno_learning_curve.py): 1000 + 200 `ns-fno` samples at
#    64^2 solved on 256^2 with ETDRK4, frames t = 1..50, Blosc-LZ4 HDF5 cached in $CACHE (made once;
#    a later call reads it).
# 2. Training: FNO-2D (12 modes, width 20), 10 frames in, 40 predicted and trained through, Adam 1e-3
#    with L2 weight decay 1e-4, batch 20, the rate halved every fifth of $STEPS steps; stopped after
#    TRAIN_MINUTES (at the end of an epoch). The test error (200 samples, whole 40-frame rollout,
#    the paper's relative L2) every 250 steps and at the end.
#
#   bash experiments/fno_ns_gpu.sh             # on a GPU: data ~3 min (estimate) + TRAIN_MINUTES (5) + start-up
#   QUICK=1 bash experiments/fno_ns_gpu.sh     # the same wiring at toy sizes, on a CPU in ~2 minutes
#
# Writes $OUT/fno_ns_gpu.json (or fno_ns_gpu_quick.json) and its .png: the test error against
# steps, with the command, seed, commit and device (OUT defaults to experiments/results).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
OUT=${OUT:-experiments/results}
CACHE=${CACHE:-$HOME/.cache/pdesolve/fno_ns}
mkdir -p "$OUT"
if [ "${QUICK:-0}" = "1" ]; then
    ARGS=(--preset quick --runs 32:16:8 --max-minutes "${TRAIN_MINUTES:-1}")
    SUFFIX=_quick
else
    ARGS=(--preset gpu --runs "64:1000:${STEPS:-5000}" --max-minutes "${TRAIN_MINUTES:-5}")
    SUFFIX=
fi
"$PYTHON" experiments/fno_learning_curve.py "${ARGS[@]}" --cache-dir "$CACHE" --no-progress \
    --json "$OUT/fno_ns_gpu$SUFFIX.json"
