#!/usr/bin/env bash
# The product codec, ms2020vr (shipped as saved_models/ms2020vr-mse): one long run that gets the training
# compute, resumable wherever it stops, its best checkpoint shipped whenever it beats the shipped model.
#
#   scripts/train_product.sh train           # train (nice 19); resumes runs/product/main, else continues the
#                                            # shipped model, else starts from the winning pilot
#   scripts/train_product.sh ship            # export the latest checkpoint, code the validation images and
#                                            # Kodak at every level, ship it if it gains >= 2% BD-rate
#   scripts/train_product.sh watch [MIN]     # ship every MIN minutes (default 60) while training runs
#
# Recipe: the winner of scripts/pilot_ms2020vr.sh (N=192 bls2017 transforms warm-started from bls2017-mse-6,
# 4 slices), BSDS500 train halved, 128x128 crops, batch 8, each crop at a level drawn uniformly from the
# whole range; Adam 1e-4, cosine to 1e-5 over 200,000 steps; a checkpoint every 250 steps.
source "$(dirname "$0")/train_common.sh"
NAME=ms2020vr-mse
WORK=runs/product
SHIPPED=saved_models/$NAME
PILOT=runs/pilots/n192-s4-warm/weights/latest
RUN=(-a ms2020vr "${DATA[@]}" -N 192 --slices 4 --hyper-filters 128 --lr 1e-4 --final-lr 1e-5
     --steps 200000 --steps-per-epoch 250 --family ms2020vr --workdir "$WORK/main")

# The run's warm start, fixed when it first starts so that every resumed run records the same lineage.
init_from() {
  mkdir -p "$WORK/main"
  if [ ! -f "$WORK/main/init_from" ]; then
    if [ -f "$SHIPPED/metadata.json" ]; then echo "$SHIPPED"
    elif [ -f "$PILOT.index" ]; then echo "$PILOT"
    else echo saved_models/bls2017-mse-6; fi > "$WORK/main/init_from.tmp"
    # A shipped model is copied aside: shipping replaces it while this run still names it as its donor.
    if [ "$(cat "$WORK/main/init_from.tmp")" = "$SHIPPED" ]; then
      rm -rf "$WORK/donor" && cp -r "$SHIPPED" "$WORK/donor" && echo "$WORK/donor" > "$WORK/main/init_from.tmp"
    fi
    mv "$WORK/main/init_from.tmp" "$WORK/main/init_from"
  fi
  cat "$WORK/main/init_from"
}

case "${1:-}" in
  train)
    nice -n 19 "$TFCOMP" train "${RUN[@]}" --init-from "$(init_from)" "$WORK/final/$NAME" ;;
  ship)
    "$TFCOMP" train "${RUN[@]}" --init-from "$(init_from)" --export-only "$WORK/candidate/$NAME" > /dev/null
    nice -n 10 .venv/bin/python -m tfcomp.training.shipping "$WORK/candidate/$NAME" "$SHIPPED" "$WORK/main" \
      --validation ../shared/datasets/bsds500/val --kodak ../shared/datasets/kodak ;;
  watch)
    while sleep $((${2:-60} * 60)); do "$0" ship || true; done ;;
  *)
    sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
