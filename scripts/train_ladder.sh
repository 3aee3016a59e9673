#!/usr/bin/env bash
# Trains the shipped bls2017 ladder on the BSDS500 training images (never Kodak), the way it was trained:
# rung 2 from scratch, the other rungs warm-started from it. Every step resumes if interrupted: rerun it.
#   usage: scripts/train_ladder.sh [RUNG ...]      (default: 2 1 3)
set -euo pipefail
cd "$(dirname "$0")/.."
TFCOMP=.venv/bin/tfcomp
DATA=(--train-data ../shared/datasets/bsds500/train --val-data ../shared/datasets/bsds500/val)
declare -A LAMBDA=([1]=0.001 [2]=0.003 [3]=0.008 [4]=0.02 [5]=0.05)

rungs=("$@")
[ ${#rungs[@]} -gt 0 ] || rungs=(2 1 3)
for rung in "${rungs[@]}"; do
  name="bls2017-mse-$rung"
  if [ "$rung" = 2 ]; then
    schedule=(--steps 18000 --lr 5e-4 --final-lr 5e-5)
  else
    schedule=(--steps 4000 --lr 3e-4 --final-lr 3e-5 --init-from runs/bls2017-mse-2/weights/latest)
  fi
  "$TFCOMP" train -a bls2017 -N 64 --lambda "${LAMBDA[$rung]}" "${DATA[@]}" "${schedule[@]}" \
      --workdir "runs/$name" "saved_models/$name"
done
