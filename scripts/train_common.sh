# Sourced by the training scripts: the CLI, the training data, the ladder and the decoder stage.
set -euo pipefail
cd "$(dirname "$0")/.."
TFCOMP=.venv/bin/tfcomp
DATA=(--train-data ../shared/datasets/bsds500/train --val-data ../shared/datasets/bsds500/val)
# Ladder lambdas, rung 1 (smallest files) to rung 5 (rung 6: an unshipped experiment, see train_ladder.sh).
declare -A LAMBDA=([1]=0.001 [2]=0.003 [3]=0.008 [4]=0.02 [5]=0.1 [6]=0.5)
# Rungs that ship seed 002's lighter decoders too.
DECODER_RUNGS=(2 3)
# Moves a finished run's model ($1) over the shipped one named $2: only once training is done, because the
# shipped model is the run's warm-start source until then.
ship() { rm -rf "saved_models/$2" && mv "$1" "saved_models/$2"; }
# Decoder-only training for a trained encoder and entropy model (the bitstream stays the same).
DECODER_STAGE=(--steps 2000 --lr 5e-4 --final-lr 1e-5 --freeze analysis_transform,prior)
# The lighter decoders' stage: end to end at the rung's lambda, warm-started from the trained rung.
VARIANT_STAGE=(--steps 3000 --lr 3e-4 --final-lr 1.5e-5)
