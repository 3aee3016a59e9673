#!/usr/bin/env bash
# The SlimCAE thesis's proposed fix for the colour lost at narrow widths, tested: two short fine-tunes of the shipped
# MSE SlimCAE, identical but for the CIELAB chroma term (--chroma-weight) and, optionally, the narrowest width's
# lambda of the run with the term (the term costs a little rate; a slightly lower lambda brings the rate back
# to that of the run without it, so that both are compared at equal or lower bpp), then
# tfcomp/evaluation/chroma.py compares their narrowest width on Kodak (results/slimcae/chroma.md). Resumable
# like every training run.
#   usage: scripts/slimcae_chroma.sh [chroma weight, default 0.1] [steps, even, default 400]
#                                    [narrowest lambda with the term, default the thesis's 128/255^2]
source "$(dirname "$0")/train_common.sh"
weight="${1:-0.1}"
steps="${2:-400}"
# The thesis's lambdas (2048, 1024, 512, 256, 128 on the 0..1 scale) on our 0..255 scale, as the shipped model.
LAMBDAS=0.0314956,0.0157478,0.00787389,0.00393695,0.00196847
narrowest_on="${3:-0.00196847}"
for run in off on; do
    chroma=0
    lambdas="$LAMBDAS"
    if [ "$run" = on ]; then
        chroma="$weight"
        lambdas="${LAMBDAS%,*},$narrowest_on"
    fi
    "$TFCOMP" train -a slimcae --widths 64,48,32,24,16 --lambdas "$lambdas" --chroma-weight "$chroma" "${DATA[@]}" \
        --init-from saved_models/slimcae-mse --steps "$steps" --steps-per-epoch "$((steps / 2))" --lr 1e-4 --final-lr 2e-5 \
        --workdir "runs/chroma/$run" "runs/chroma/$run/model"
done
.venv/bin/python -m tfcomp.evaluation.chroma --without runs/chroma/off/model --with runs/chroma/on/model
