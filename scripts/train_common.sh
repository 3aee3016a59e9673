# Sourced by the training scripts: the CLI, the training data, the ladder and the decoder stage.
set -euo pipefail
cd "$(dirname "$0")/.."
TFCOMP=.venv/bin/tfcomp
DATA=(--train-data ../shared/datasets/bsds500/train --val-data ../shared/datasets/bsds500/val)
# N=64 lambdas, rung 1 (smallest files) to 6: rungs 1-3 ship in the ladder; 4 and 5 are the study models
# bls2017-n64-mse-4/5, the donors of the ladder's N=192 rungs 4-6 (train_wide_rungs.sh) and of bmshj2018-mse-3;
# 6 is measured but not kept (see train_ladder.sh).
declare -A LAMBDA=([1]=0.001 [2]=0.003 [3]=0.008 [4]=0.02 [5]=0.1 [6]=0.5)
# The shipped name of N=64 rung $1.
n64_name() { if [ "$1" -le 3 ]; then echo "bls2017-mse-$1"; else echo "bls2017-n64-mse-$1"; fi; }
# The bmshj2018 ladder: the N=64 rung whose transforms (and lambda) each hyperprior rung takes, and its options.
declare -A HYPER_DONOR=([1]=2 [2]=3 [3]=4)
HYPER_MODEL=(-a bmshj2018 -N 64 --hyper-filters 64 --transforms bls2017)
# Rungs that ship the faster-decoder thesis's lighter decoders too.
DECODER_RUNGS=(2 3)
# The rungs asked for ($3...; default: the list $1), each one of the list $2: sets RUNGS, or stops with one
# line and exit 2 before anything is trained or written.
pick_rungs() {
  local default=$1 known=$2 rung
  shift 2
  RUNGS=("$@")
  [ ${#RUNGS[@]} -gt 0 ] || read -ra RUNGS <<< "$default"
  for rung in "${RUNGS[@]}"; do
    [[ " $known " == *" $rung "* ]] && continue
    echo "$(basename "$0"): no rung '$rung' (choose from $known)" >&2
    exit 2
  done
}
# Study models (measured in docs/results.md, not shipped: the N=64 donors, the other decoder variants, the N=192
# decoder pairs) are kept here instead of saved_models/.
STUDY=runs/study
# Where the model named $1 lives: saved_models/ for the shipped models, $STUDY for study models.
model_path() {
  case "$1" in
    bls2017-mse-*|bls2017-K3x3-mse-*|bmshj2018-*|slimcae-*|ms2020vr-*) echo "saved_models/$1" ;;
    *) echo "$STUDY/$1" ;;
  esac
}
# Moves a finished run's model ($1) to where the model named $2 lives: only once training is done, because a
# shipped model is the run's warm-start source until then.
ship() { local target; target=$(model_path "$2"); mkdir -p "$(dirname "$target")" && rm -rf "$target" && mv "$1" "$target"; }
# Decoder-only training for a trained encoder and entropy model (the bitstream stays the same).
DECODER_STAGE=(--steps 2000 --lr 5e-4 --final-lr 1e-5 --freeze analysis_transform,prior)
# The lighter decoders' stage: end to end at the rung's lambda, warm-started from the trained rung.
VARIANT_STAGE=(--steps 3000 --lr 3e-4 --final-lr 1.5e-5)
