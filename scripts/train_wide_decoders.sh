#!/usr/bin/env bash
# The decoder study's width (N=192) for the baseline and K3x3 decoders of rungs 2 and 3, on a CPU (study models,
# kept in runs/study/): each N=64 model is
# widened to N=192 (its weights fill the leading channels, new channels start switched off and their prior is
# narrowed into the zero bin, so the wide model starts at the narrow one's image and rate) and fine-tuned end to
# end at the rung's lambda, on ladders of their own (bls2017-n192, bls2017-K3x3-n192), off the N=64 curve.
# Resumable: rerun it.
#   usage: scripts/train_wide_decoders.sh [RUNG ...]    (default: the DECODER_RUNGS of train_common.sh)
source "$(dirname "$0")/train_common.sh"

WIDE_STAGE=(--steps 600 --steps-per-epoch 200 --lr 1e-4 --final-lr 1e-5)
pick_rungs "${DECODER_RUNGS[*]}" "1 2 3 4 5" "$@"
for rung in "${RUNGS[@]}"; do
  for decoder in baseline K3x3; do
    variant=""
    [ "$decoder" = baseline ] || variant="-$decoder"
    narrow="bls2017$variant-mse-$rung" family="bls2017$variant-n192"
    name="$family-mse-$rung"
    [ -e "runs/$name/done" ] && continue
    "$TFCOMP" train -a bls2017 -N 192 --decoder "$decoder" --lambda "${LAMBDA[$rung]}" --family "$family" \
        "${DATA[@]}" "${WIDE_STAGE[@]}" --init-from "$(model_path "$narrow")" --workdir "runs/$name" \
        "runs/$name/out/$name"
    ship "runs/$name/out/$name" "$name" && touch "runs/$name/done"
  done
done
