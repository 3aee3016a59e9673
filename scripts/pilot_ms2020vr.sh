#!/usr/bin/env bash
# Pilots for the product codec (ms2020vr): candidate widths, slice counts and transforms trained for the same
# wall time on this 2-core CPU, then compared on BSDS500 validation images (scripts/pilot_report.py).
#
# Equal wall time: each pilot's step count is 600 s divided by its seconds per step, measured on this machine
# with 2 threads (batch 8, 128x128 crops): 0.66 s (N=192, 4 slices), 0.64 s (1 slice), 0.71 s (8 slices),
# 0.37 s (N=128). Two pilots run at a time, each pinned to one core, so a pair shares the machine evenly.
# Resumable: a finished pilot is not trained again (its workdir holds the record).
#
#   scripts/pilot_ms2020vr.sh [PILOT ...]      (default: all four)
source "$(dirname "$0")/train_common.sh"
OUT=runs/pilots
COMMON=(-a ms2020vr "${DATA[@]}" --lr 1e-4 --final-lr 1e-4 --steps-per-epoch 20 --hyper-filters 128)
WARM=(--init-from saved_models/bls2017-mse-6 --donor-lambda 0.035)
declare -A PILOT=(
  [n192-s4-warm]="-N 192 --slices 4 --steps 900 ${WARM[*]}"
  [n192-s1-warm]="-N 192 --slices 1 --steps 940 ${WARM[*]}"
  [n192-s8-warm]="-N 192 --slices 8 --steps 840 ${WARM[*]}"
  [n128-s4-scratch]="-N 128 --slices 4 --steps 1620"
)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(n192-s4-warm n192-s1-warm n192-s8-warm n128-s4-scratch)
run() {  # name core
  # shellcheck disable=SC2086
  taskset -c "$2" nice -n 10 "$TFCOMP" train "${COMMON[@]}" ${PILOT[$1]} --workdir "$OUT/$1" "$OUT/models/$1" \
    > "$OUT/$1.log" 2>&1
}
mkdir -p "$OUT/models"
for ((i = 0; i < ${#names[@]}; i += 2)); do
  run "${names[i]}" 0 &
  [ -z "${names[i + 1]:-}" ] || run "${names[i + 1]}" 1 &
  wait
done
