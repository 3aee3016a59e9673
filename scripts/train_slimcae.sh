#!/usr/bin/env bash
# Trains the shipped SlimCAE (seed 001) on the BSDS500 training images: a narrower configuration for the
# 2-core CPU (full width 64 instead of 192, widths 64/48/32/24/16, seed 001's lambdas), all widths jointly.
# Resumable: rerun it after an interruption. The shipped MSE model's schedule was shortened for the CPU
# budget: from 24,000 to 10,000 steps at step 2,500 (the cosine learning rate jumped from 4.9e-4 to 4.3e-4),
# then to 8,000 steps at step 5,000 (3.1e-4 to 1.9e-4).
#   usage: scripts/train_slimcae.sh [mse|ms-ssim]
source "$(dirname "$0")/train_common.sh"
distortion="${1:-mse}"
"$TFCOMP" train -a slimcae --widths 64,48,32,24,16 --distortion "$distortion" "${DATA[@]}" \
    --steps 8000 --lr 5e-4 --final-lr 5e-5 --workdir "runs/slimcae-$distortion" "saved_models/slimcae-$distortion"
