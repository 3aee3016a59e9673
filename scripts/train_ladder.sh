#!/usr/bin/env bash
# Trains the shipped bls2017 ladder on the BSDS500 training images (never Kodak), the way it was trained.
# Joint stage: rung 2 from scratch; every other rung warm-started from its neighbour towards rung 2
# (1 <- 2, 3 <- 2, 4 <- 3, 5 <- 4). Rungs 2 and 3, which also ship lighter decoders, then get the
# decoder stage those decoders get (scripts/train_decoders.sh), so the seed 002 table compares decoders
# trained alike. Every stage resumes if interrupted: rerun it.
#   usage: scripts/train_ladder.sh [RUNG ...]      (default: 2 1 3 4 5)
source "$(dirname "$0")/train_common.sh"
declare -A DONOR=([1]=2 [3]=2 [4]=3 [5]=4)

rungs=("$@")
[ ${#rungs[@]} -gt 0 ] || rungs=(2 1 3 4 5)
for rung in "${rungs[@]}"; do
  name="bls2017-mse-$rung"
  if [ "$rung" = 2 ]; then
    schedule=(--steps 18000 --lr 5e-4 --final-lr 5e-5)
  else
    schedule=(--steps 4000 --lr 3e-4 --final-lr 3e-5 --init-from "runs/bls2017-mse-${DONOR[$rung]}/weights/latest")
  fi
  [ -e "runs/$name/joint/metadata.json" ] ||
    "$TFCOMP" train -a bls2017 -N 64 --lambda "${LAMBDA[$rung]}" "${DATA[@]}" "${schedule[@]}" \
        --workdir "runs/$name" "runs/$name/joint"
  if [[ " ${DECODER_RUNGS[*]} " == *" $rung "* ]]; then
    "$TFCOMP" train -a bls2017 -N 64 --lambda "${LAMBDA[$rung]}" "${DATA[@]}" "${DECODER_STAGE[@]}" \
        --init-from "runs/$name/joint" --workdir "runs/$name-decoder" "saved_models/$name"
  else  # the joint stage's last checkpoint, saved under the rung's name
    "$TFCOMP" train -a bls2017 -N 64 --lambda "${LAMBDA[$rung]}" "${DATA[@]}" "${schedule[@]}" \
        --workdir "runs/$name" --export-only "saved_models/$name"
  fi
done
