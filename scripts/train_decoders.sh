#!/usr/bin/env bash
# Trains seed 002's lighter decoders for shipped ladder rungs: each keeps the rung's trained encoder and
# entropy model (frozen, so files and rates are the rung's) and trains its own decoder with the same
# decoder stage the rung's baseline decoder had. Resumable: rerun it.
#   usage: scripts/train_decoders.sh [RUNG ...]    (default: the DECODER_RUNGS of train_common.sh)
source "$(dirname "$0")/train_common.sh"

rungs=("$@")
[ ${#rungs[@]} -gt 0 ] || rungs=("${DECODER_RUNGS[@]}")
for rung in "${rungs[@]}"; do
  for decoder in 2L-K3x3 K3x3 2L 2L-K9x9; do
    name="bls2017-$decoder-mse-$rung"
    "$TFCOMP" train -a bls2017 -N 64 --decoder "$decoder" --lambda "${LAMBDA[$rung]}" "${DATA[@]}" \
        "${DECODER_STAGE[@]}" --init-from "saved_models/bls2017-mse-$rung" --workdir "runs/$name" "saved_models/$name"
  done
done
