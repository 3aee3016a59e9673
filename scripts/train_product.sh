#!/usr/bin/env bash
# The product codec, ms2020vr (shipped as saved_models/ms2020vr-mse): one long run that gets the training
# compute, resumable wherever it stops, its best checkpoint shipped whenever it beats the shipped model.
#
#   scripts/train_product.sh train           # train (nice 19); resumes runs/product/main, else continues the
#                                            # shipped model, else fits the entropy model first and starts
#   scripts/train_product.sh cool [STEPS]    # a cooldown (learning rate 1e-4 to 1e-6 over STEPS, 1500) of the
#                                            # joint run's latest checkpoint, or of the shipped model when the
#                                            # joint run is gone; prints its TAG (joint-STEPS, shipped-vN)
#   scripts/train_product.sh ship [fit | cool TAG]  # export the latest checkpoint (of the entropy-model fit
#                                            # with `fit`, of cooldown TAG with `cool TAG`), code the validation
#                                            # images and Kodak at every level, ship it if it gains >= 2%
#                                            # BD-rate (or nothing is shipped)
#   scripts/train_product.sh watch [MIN]     # ship every MIN minutes (default 60) while training runs
#
# Recipe (scripts/pilot_ms2020vr.sh and docs/ms2020vr.md tell how it was chosen): bls2017's N=192 transforms
# from bls2017-mse-6; 4 slices; first the entropy model alone (`fit`: transforms and gains frozen, rate only,
# on cached latents of 256x256 crops, 2,000 steps, Adam 1e-3 to 1e-4), then everything together (`train`):
# BSDS500 train shrunk to 0.8 (JPEG blocking averaged away, sharper than halving), 256x256 crops, batch 4,
# each crop at a level drawn uniformly over the whole range; Adam 1e-4, cosine to 1e-5 over 200,000 steps;
# a checkpoint every 250 steps. The joint run stays near its peak learning rate; what ships comes from
# cooldowns branched off it (a warmup-stable-decay schedule: Hägele et al. 2024, "Scaling laws and
# compute-optimal training beyond fixed training durations"), since a run that gets a few thousand steps a day
# never reaches the low end of a 200,000-step cosine. Crops are 256x256 because the hyper-latents sit at 1/64 of the image: 128x128
# crops give them 2x2 positions, all at a border, and the hyperprior learns little there.
source "$(dirname "$0")/train_common.sh"
NAME=ms2020vr-mse
WORK=runs/product
SHIPPED=saved_models/$NAME
MODEL=(-a ms2020vr "${DATA[@]}" -N 192 --slices 4 --hyper-filters 128 --family ms2020vr --downscale 0.8 --patch 256)
FIT=("${MODEL[@]}" --fit-hyperprior --init-from saved_models/bls2017-mse-6 --steps 2000 --steps-per-epoch 200
     --lr 1e-3 --final-lr 1e-4 --workdir "$WORK/fit")
RUN=("${MODEL[@]}" --batch 4 --lr 1e-4 --final-lr 1e-5 --steps 200000 --steps-per-epoch 250 --workdir "$WORK/main")
# A cooldown over $2 steps of the frozen copy cooldown/$1/branch; its own seed, so its crops are not the joint
# run's first ones again.
cool_run() {
  COOL=("${MODEL[@]}" --batch 4 --lr 1e-4 --final-lr 1e-6 --steps "$2" --steps-per-epoch 250 --seed 1
        --workdir "$WORK/cooldown/$1/run" --init-from "$(cat "$WORK/cooldown/$1/init_from")")
}
# Freezes what a new cooldown starts from: the joint run's latest checkpoint, or the shipped model when the
# joint run is gone; prints its name (joint-STEPS or shipped-vVERSION).
branch() {
  local tag source init
  if [ -f "$WORK/main/progress.json" ]; then
    tag=joint-$(.venv/bin/python -c "import json; print(json.load(open('$WORK/main/progress.json'))['steps'])")
    source=("$WORK/main/weights" "$WORK/main/progress.json") init="$WORK/cooldown/$tag/branch/weights/latest"
  else
    tag=shipped-v$(.venv/bin/python -c "import json; print(json.load(open('$SHIPPED/metadata.json'))['version'])")
    source=("$SHIPPED/.") init="$WORK/cooldown/$tag/branch"
  fi
  if [ ! -d "$WORK/cooldown/$tag/branch" ]; then  # a copy: the joint run goes on writing its checkpoint
    rm -rf "$WORK/cooldown/$tag/branch.tmp" && mkdir -p "$WORK/cooldown/$tag/branch.tmp"
    cp -r "${source[@]}" "$WORK/cooldown/$tag/branch.tmp"
    mv "$WORK/cooldown/$tag/branch.tmp" "$WORK/cooldown/$tag/branch" && echo "$init" > "$WORK/cooldown/$tag/init_from"
  fi
  echo "$tag"
}

# The joint run's warm start, fixed when it first starts so that every resumed run records the same lineage:
# the fitted entropy model, or the shipped model when the run's work directory is gone.
init_from() {
  mkdir -p "$WORK/main"
  if [ ! -f "$WORK/main/init_from" ]; then
    if [ -f "$SHIPPED/metadata.json" ]; then
      # Copied aside: shipping replaces the shipped model while this run still names it as its donor.
      rm -rf "$WORK/donor" && cp -r "$SHIPPED" "$WORK/donor" && echo "$WORK/donor"
    else
      [ -f "$WORK/fit/done" ] || { nice -n 19 "$TFCOMP" train "${FIT[@]}" "$WORK/fit/model" >&2 && touch "$WORK/fit/done"; }
      echo "$WORK/fit/weights/latest"
    fi > "$WORK/main/init_from.tmp"
    mv "$WORK/main/init_from.tmp" "$WORK/main/init_from"
  fi
  cat "$WORK/main/init_from"
}

case "${1:-}" in
  train)
    init=$(init_from)  # on its own line, so that a failure stops the script
    nice -n 19 "$TFCOMP" train "${RUN[@]}" --init-from "$init" "$WORK/final/$NAME" ;;
  cool)
    tag=$(branch)
    echo "cooldown $tag" >&2
    steps=${2:-$(cat "$WORK/cooldown/$tag/steps" 2>/dev/null || echo 1500)}
    echo "$steps" > "$WORK/cooldown/$tag/steps"
    cool_run "$tag" "$steps"
    nice -n 19 "$TFCOMP" train "${COOL[@]}" "$WORK/final/$NAME" ;;
  ship)
    if [ "${2:-}" = fit ]; then  # the fitted entropy model on the frozen transforms, before any joint step
      "$TFCOMP" train "${FIT[@]}" --export-only "$WORK/candidate/$NAME" > /dev/null
    elif [ "${2:-}" = cool ]; then
      cool_run "$3" "$(cat "$WORK/cooldown/$3/steps")"
      "$TFCOMP" train "${COOL[@]}" --export-only "$WORK/candidate/$NAME" > /dev/null
    else
      init=$(init_from)
      "$TFCOMP" train "${RUN[@]}" --init-from "$init" --export-only "$WORK/candidate/$NAME" > /dev/null
    fi
    nice -n 10 .venv/bin/python -m tfcomp.training.shipping "$WORK/candidate/$NAME" "$SHIPPED" "$WORK/main" \
      --validation ../shared/datasets/bsds500/val --kodak ../shared/datasets/kodak ;;
  watch)
    while sleep $((${2:-60} * 60)); do "$0" ship || true; done ;;
  *)
    sed -n '2,/^# Recipe/p' "$0" | sed '$d' >&2; exit 2 ;;
esac
