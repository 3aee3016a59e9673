#!/usr/bin/env bash
# Experiment towards the ladder's top (not shipped yet): N=64 saturates near 30 dB, so an N=64 rung is widened
# to N=192 (the new latent channels start switched off, see tfcomp/training/warm_start.py) and trained end to
# end at a higher lambda until the new channels carry the extra detail. Resumable: rerun it.
#   usage: scripts/train_wide_rungs.sh [TOP ...]    (default: 6; TOP 4 re-trains rung 4's rate at N=192)
# Measured on this 2-core CPU (Kodak, `tfcomp evaluate`): TOP 6, widened from rung 5 at lambda 0.08, 9,000 steps
# (65 min, 0.43 s/step) reached 1.661 bpp / 35.97 dB, 0.23 dB above JPEG at that rate.
source "$(dirname "$0")/train_common.sh"
declare -A TOP_LAMBDA=([4]=0.02 [6]=0.08) TOP_DONOR=([4]=4 [6]=5) TOP_STEPS=([4]=6000 [6]=9000)

pick_rungs "6" "4 6" "$@"
for rung in "${RUNGS[@]}"; do
  name="bls2017-n192-mse-$rung"
  "$TFCOMP" train -a bls2017 -N 192 --lambda "${TOP_LAMBDA[$rung]}" "${DATA[@]}" --steps "${TOP_STEPS[$rung]}" \
      --lr 3e-4 --final-lr 3e-5 --init-from "saved_models/bls2017-mse-${TOP_DONOR[$rung]}" \
      --workdir "runs/$name/work" "runs/$name/out/$name"
done
