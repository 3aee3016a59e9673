#!/usr/bin/env bash
# Trains the ladder's N=192 rungs 4-6 (about 0.6 to 1.2 bpp on Kodak), the rates where N=64 saturates near
# 30 dB. Rung 6 widens the N=64 donor bls2017-n64-mse-5 to N=192 (the new latent channels start switched off,
# see tfcomp/training/warm_start.py) and trains end to end at lambda 0.035; rung 5 moves rung 6 down to lambda
# 0.016 and rung 4 moves rung 5's first stage down to lambda 0.009: lowering the rate of a trained N=192 model
# costs far fewer steps than widening again. Each stage resumes if interrupted and is skipped once done: rerun it.
#   usage: scripts/train_wide_rungs.sh [RUNG ...]    (default: 6 5 4; each needs the rungs before it in that order)
# Measured on a 2-core CPU (0.40-0.44 s/step, Kodak by `tfcomp evaluate`): see docs/models.md.
source "$(dirname "$0")/train_common.sh"
# Stages of each rung, separated by ';': "lambda steps lr final-lr donor" (a shipped model or an earlier stage).
declare -A STAGES=(
  [6]="0.035 10000 3e-4 3e-5 runs/study/bls2017-n64-mse-5"
  [5]="0.016 5000 2e-4 2e-5 runs/bls2017-mse-6/stage1/bls2017-mse-6;0.016 3000 1e-4 1e-5 runs/bls2017-mse-5/stage1/bls2017-mse-5"
  [4]="0.009 4500 2e-4 2e-5 runs/bls2017-mse-5/stage1/bls2017-mse-5"
)

pick_rungs "6 5 4" "4 5 6" "$@"
for rung in "${RUNGS[@]}"; do
  name="bls2017-mse-$rung"
  IFS=';' read -ra stages <<< "${STAGES[$rung]}"
  for i in "${!stages[@]}"; do
    read -r lmbda steps lr final_lr donor <<< "${stages[$i]}"
    stage="runs/$name/stage$((i + 1))"
    [ -e "$stage/$name/metadata.json" ] ||
      "$TFCOMP" train -a bls2017 -N 192 --lambda "$lmbda" "${DATA[@]}" --steps "$steps" --lr "$lr" \
          --final-lr "$final_lr" --init-from "$donor" --workdir "$stage/work" "$stage/$name"
  done
  # Copied, not moved: the stages stay the donors of the rungs below.
  rm -rf "saved_models/$name" && cp -r "$stage/$name" "saved_models/$name"
done
