#!/usr/bin/env bash
# Trains the lighter decoders of the study of faster Ballé decoders (docs/models.md) for ladder rungs: K3x3 ships,
# 2L, 2L-K3x3 and 2L-K9x9 are study models (kept in runs/study/). Like that study, each variant is trained end to
# end at the rung's lambda (the encoder and entropy model adapt to the lighter decoder), but warm-started
# from the trained rung: its encoder, entropy model and every decoder weight whose shape fits (3x3 kernels
# start from the centre of the 5x5 ones). A decoder-only stage on the rung's frozen encoder (2,000 steps)
# had left K3x3 1.5-2.1 dB behind; this stage leaves it within 0.1 dB in 3,000 steps. Resumable: rerun it.
#   usage: scripts/train_decoders.sh [RUNG ...]    (default: the DECODER_RUNGS of train_common.sh)
source "$(dirname "$0")/train_common.sh"

pick_rungs "${DECODER_RUNGS[*]}" "1 2 3 4 5" "$@"
for decoder in K3x3 2L-K3x3 2L 2L-K9x9; do
  for rung in "${RUNGS[@]}"; do
    name="bls2017-$decoder-mse-$rung"
    [ -e "runs/$name-joint/done" ] && continue
    "$TFCOMP" train -a bls2017 -N 64 --decoder "$decoder" --lambda "${LAMBDA[$rung]}" "${DATA[@]}" \
        "${VARIANT_STAGE[@]}" --init-from "saved_models/bls2017-mse-$rung" --workdir "runs/$name-joint" \
        "runs/$name-joint/out/$name"
    ship "runs/$name-joint/out/$name" "$name" && touch "runs/$name-joint/done"
  done
done
