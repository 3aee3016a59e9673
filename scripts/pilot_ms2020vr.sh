#!/usr/bin/env bash
# Pilots for the product codec (ms2020vr): how many slices the channel-wise entropy model gets, decided by
# fitting the entropy model of each candidate for the same wall time on this 2-core CPU, then coding 24 BSDS500
# validation images at every level with real files and comparing BD-rates against WebP.
#
# Every pilot starts from the same trained transforms (bls2017-mse-6, N=192, frozen) and fits its hyper and
# slice networks on cached latents of 256x256 crops (the `fit` stage of scripts/train_product.sh), Adam 1e-3
# to 1e-4, batch 8. Equal wall time: steps from the measured seconds per step of each slice count (0.63 s for
# 1 slice, 0.95 s for 4, 1.04 s for 8, with both cores shared): 3,000, 2,000 and 1,800 steps, about 50 min each.
# Resumable: a finished pilot is not trained or evaluated again.
#
#   scripts/pilot_ms2020vr.sh [1|4|8 ...]      (default: all three)
source "$(dirname "$0")/train_common.sh"
OUT=runs/pilots/fits
COMMON=(-a ms2020vr "${DATA[@]}" -N 192 --hyper-filters 128 --downscale 0.8 --patch 256 --batch 8
        --fit-hyperprior --init-from saved_models/bls2017-mse-6 --lr 1e-3 --final-lr 1e-4 --steps-per-epoch 200)
declare -A STEPS=([1]=3000 [4]=2000 [8]=1800)
slices=("$@")
[ ${#slices[@]} -gt 0 ] || slices=(1 4 8)
for s in "${slices[@]}"; do
  [ -f "$OUT/fit-s$s/metadata.json" ] || nice -n 10 "$TFCOMP" train "${COMMON[@]}" --slices "$s" \
    --steps "${STEPS[$s]}" --workdir "runs/pilots/work/fit-s$s" "$OUT/fit-s$s" > "runs/pilots/fit-s$s.log" 2>&1
done
# The pilots' curves at their 8 levels beside WebP's, real files on 24 validation images; BD-rates in the table.
names=("${slices[@]/#/fit-s}")
[ -f runs/pilots/eval/fits/summary.json ] || TFCOMP_MODELS=$OUT nice -n 10 "$TFCOMP" evaluate "${names[@]}" webp \
  --images ../shared/datasets/bsds500/val --limit 24 --in-process --timing-images 0 --out runs/pilots/eval/fits \
  > runs/pilots/eval-fits.log 2>&1
grep -A40 "^codec" runs/pilots/eval-fits.log
