#!/usr/bin/env bash
# Trains the shipped SlimCAE (seed 001) on the BSDS500 training images: a narrower configuration for the
# 2-core CPU (full width 64 instead of 192, widths 64/48/32/24/16, seed 001's lambdas), all widths jointly.
# Resumable: rerun it after an interruption.
#   usage: scripts/train_slimcae.sh [mse|ms-ssim]
source "$(dirname "$0")/train_common.sh"
distortion="${1:-mse}"
"$TFCOMP" train -a slimcae --widths 64,48,32,24,16 --distortion "$distortion" "${DATA[@]}" \
    --steps 24000 --lr 5e-4 --final-lr 5e-5 --workdir "runs/slimcae-$distortion" "saved_models/slimcae-$distortion"
