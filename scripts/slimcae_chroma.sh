#!/usr/bin/env bash
# Seed 001's proposed fix for the colour lost at narrow widths, tested: two short fine-tunes of the shipped
# MSE SlimCAE, identical but for the CIELAB chroma term (--chroma-weight), then scripts/compare_chroma.py
# compares their narrowest width on Kodak (results/slimcae/chroma.md). Resumable like every training run.
#   usage: scripts/slimcae_chroma.sh [chroma weight, default 0.1] [steps, even, default 400]
source "$(dirname "$0")/train_common.sh"
weight="${1:-0.1}"
steps="${2:-400}"
for run in off on; do
    chroma=0
    [ "$run" = on ] && chroma="$weight"
    "$TFCOMP" train -a slimcae --widths 64,48,32,24,16 --chroma-weight "$chroma" "${DATA[@]}" \
        --init-from saved_models/slimcae-mse --steps "$steps" --steps-per-epoch "$((steps / 2))" --lr 1e-4 --final-lr 2e-5 \
        --workdir "runs/chroma/$run" "runs/chroma/$run/model"
done
.venv/bin/python scripts/compare_chroma.py --without runs/chroma/off/model --with runs/chroma/on/model
