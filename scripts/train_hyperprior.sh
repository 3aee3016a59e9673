#!/usr/bin/env bash
# Trains the shipped bmshj2018 (scale hyperprior) ladder on bls2017's transforms: each rung starts from the
# bls2017 rung of the same lambda. Stage 1 trains the new hyperprior alone (a random hyperprior would first
# send the trained transforms gradients of tens of bits per pixel); stage 2 trains everything jointly.
# Resumable: rerun it (finished rungs are skipped).
#   usage: scripts/train_hyperprior.sh [RUNG ...]  (default: 1 2 3)
#   scripts/train_hyperprior.sh more [RUNG ...]: a further joint stage of 12,000 steps from each shipped rung
#   (2,300 steps left the ladder 26% BD-rate behind the factorized one); it replaces the shipped rung when
#   done, so rerun the reproduction afterwards.
source "$(dirname "$0")/train_common.sh"
declare -A DONOR=([1]=2 [2]=3 [3]=4)
MODEL=(-a bmshj2018 -N 64 --hyper-filters 64 --transforms bls2017)

more=false
[ "${1:-}" = more ] && { more=true; shift; }
rungs=("$@")
[ ${#rungs[@]} -gt 0 ] || rungs=(1 2 3)
for rung in "${rungs[@]}"; do
  name="bmshj2018-mse-$rung"
  lambda="${LAMBDA[${DONOR[$rung]}]}"
  if $more; then
    [ -e "runs/$name-more/done" ] && continue
    "$TFCOMP" train "${MODEL[@]}" --lambda "$lambda" "${DATA[@]}" --steps 12000 --lr 2e-4 --final-lr 2e-5 \
        --init-from "saved_models/$name" --workdir "runs/$name-more" "runs/$name-more/out/$name"
    ship "runs/$name-more/out/$name" "$name" && touch "runs/$name-more/done"
    continue
  fi
  [ -e "saved_models/$name/metadata.json" ] && continue  # done
  [ -e "runs/$name/hyper/metadata.json" ] ||
    "$TFCOMP" train "${MODEL[@]}" --lambda "$lambda" "${DATA[@]}" --steps 300 --steps-per-epoch 100 --lr 1e-3 --final-lr 1e-4 \
        --freeze analysis_transform,synthesis_transform --init-from "saved_models/bls2017-mse-${DONOR[$rung]}" \
        --workdir "runs/$name-hyper" "runs/$name/hyper"
  "$TFCOMP" train "${MODEL[@]}" --lambda "$lambda" "${DATA[@]}" --steps 2000 --lr 3e-4 --final-lr 3e-5 \
      --init-from "runs/$name/hyper" --workdir "runs/$name" "saved_models/$name"
done
