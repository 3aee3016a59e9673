#!/usr/bin/env bash
# Trains the shipped bmshj2018 (scale hyperprior) ladder on bls2017's transforms: each rung keeps the trained
# transforms of the N=64 bls2017 rung one step up, frozen, and fits the new hyperprior to their latents (rate only,
# on cached latents: tfcomp/training/hyperprior_fit.py). The crops are 320x320 of the full-resolution
# training images, so the hyper-latents have 5x5 positions: on 128x128 crops (2x2, all at a border) the
# hyperprior predicted Kodak's scales worse than one fixed scale per channel, and the ladder was 26% behind
# bls2017. Full resolution does not teach JPEG blocking here: the transforms, trained on 2x-downsampled
# crops, stay frozen. Resumable: rerun it (finished rungs are skipped).
#   usage: scripts/train_hyperprior.sh [RUNG ...]  (default: 1 2 3)
source "$(dirname "$0")/train_common.sh"

pick_rungs "1 2 3" "1 2 3" "$@"
for rung in "${RUNGS[@]}"; do
  name="bmshj2018-mse-$rung"
  [ -e "runs/$name-fit/done" ] && continue
  "$TFCOMP" train "${HYPER_MODEL[@]}" --lambda "${LAMBDA[${HYPER_DONOR[$rung]}]}" "${DATA[@]}" --fit-hyperprior \
      --no-downsample --patch 320 --steps 6000 --lr 1e-3 --final-lr 5e-5 \
      --init-from "$(model_path "$(n64_name "${HYPER_DONOR[$rung]}")")" --workdir "runs/$name-fit" "runs/$name-fit/out/$name"
  ship "runs/$name-fit/out/$name" "$name" && touch "runs/$name-fit/done"
done
