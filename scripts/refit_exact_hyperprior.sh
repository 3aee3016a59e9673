#!/usr/bin/env bash
# The shipped bmshj2018 ladder with an exact (fixed-point) hyper-synthesis, so that files decode on every machine:
# each rung is converted (tfcomp/training/exact_hyperprior.py: the same function in sub-pixel form), then its
# hyperprior is refitted briefly in that form on cached latents, its transforms frozen as in train_hyperprior.sh.
# Writes runs/bmshj2018-mse-N-exact/out/bmshj2018-mse-N; SHIP=1 moves it over the shipped model.
#   usage: [SHIP=1] scripts/refit_exact_hyperprior.sh [RUNG ...]  (default: 1 2 3)
source "$(dirname "$0")/train_common.sh"

pick_rungs "1 2 3" "1 2 3" "$@"
for rung in "${RUNGS[@]}"; do
  name="bmshj2018-mse-$rung"
  # "exact" in the metadata: converted already, or refitted in runs/$name-exact.
  grep -q exact "saved_models/$name/metadata.json" ||
    .venv/bin/python -m tfcomp.training.exact_hyperprior "saved_models/$name"
  [ -e "runs/$name-exact/out/$name/metadata.json" ] ||
    "$TFCOMP" train "${HYPER_MODEL[@]}" --lambda "${LAMBDA[${HYPER_DONOR[$rung]}]}" "${DATA[@]}" --fit-hyperprior \
        --no-downsample --patch 320 --steps 1500 --lr 1e-4 --final-lr 1e-5 \
        --init-from "saved_models/$name" --workdir "runs/$name-exact" "runs/$name-exact/out/$name"
  if [ "${SHIP:-0}" = 1 ]; then ship "runs/$name-exact/out/$name" "$name"; fi
done
