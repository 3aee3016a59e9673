#!/usr/bin/env bash
# Trains the shipped SlimCAE models (the SlimCAE thesis) on the BSDS500 training images: a narrower configuration for
# the 2-core CPU (full width 64 instead of 192, widths 64/48/32/24/16), all widths jointly. Resumable: rerun
# it after an interruption.
#   mse: from scratch, the SlimCAE thesis's lambdas. The schedule was shortened for the CPU budget: from 24,000 to
#        10,000 steps at step 2,500 (the cosine learning rate jumped from 4.9e-4 to 4.3e-4), then to 8,000
#        steps at step 5,000 (3.1e-4 to 1.9e-4).
#   ms-ssim: distortion 1 - MS-SSIM, warm-started from the MSE model (run `mse` first) and fine-tuned; the
#        lambdas are the MSE ones times ~1250, the ratio between CompressAI's MSE and MS-SSIM lambdas for
#        the same rates.
#   ms-ssim-more: a second MS-SSIM stage of 3,000 steps from the shipped ms-ssim model at a lower learning
#        rate (the first stage left it 19% BD-rate behind the bls2017 ladder on MS-SSIM); it replaces
#        saved_models/slimcae-ms-ssim and its metadata history records both stages.
#   usage: scripts/train_slimcae.sh [mse|ms-ssim|ms-ssim-more]
source "$(dirname "$0")/train_common.sh"
distortion="${1:-mse}"
WIDTHS=(-a slimcae --widths 64,48,32,24,16)
case "$distortion" in
    mse) SCHEDULE=(--steps 8000 --lr 5e-4 --final-lr 5e-5) ;;
    ms-ssim) SCHEDULE=(--lambdas 39,20,10,5,2.5 --init-from saved_models/slimcae-mse
                       --steps 1500 --lr 2e-4 --final-lr 2e-5) ;;
    ms-ssim-more) SCHEDULE=(--lambdas 39,20,10,5,2.5 --init-from saved_models/slimcae-ms-ssim
                            --steps 3000 --lr 1.5e-4 --final-lr 1e-5) ;;
    *) echo "usage: $0 [mse|ms-ssim|ms-ssim-more]" >&2; exit 2 ;;
esac
family="slimcae-${distortion%-more}"
"$TFCOMP" train "${WIDTHS[@]}" --distortion "${family#slimcae-}" "${DATA[@]}" "${SCHEDULE[@]}" \
    --workdir "runs/slimcae-$distortion" "runs/slimcae-$distortion/out/$family"
ship "runs/slimcae-$distortion/out/$family" "$family"
