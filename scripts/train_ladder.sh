#!/usr/bin/env bash
# Trains the N=64 bls2017 models on the BSDS500 training images (never Kodak), the way they were trained: the
# ladder's rungs 1-3 (shipped) and the study models bls2017-n64-mse-4/5 (kept in runs/study/, the donors of the
# N=192 rungs 4-6, which scripts/train_wide_rungs.sh trains next).
# Joint stage: rung 2 from scratch; every other rung warm-started from its neighbour towards rung 2
# (1 <- 2, 3 <- 2, 4 <- 3, 5 <- 4, 6 <- 5; a donor not trained here is read from where it is kept: model_path).
# Rungs 2 and 3, which also ship lighter decoders (scripts/train_decoders.sh, warm-started from these
# rungs), then get a decoder-only stage on their frozen encoder. Every stage resumes if interrupted: rerun it.
#   usage: scripts/train_ladder.sh [RUNG ...]      (default: 2 1 3 4 5)
# Rung 6 (lambda 0.5, 6,000 steps from rung 5) is measured but not shipped: at N=64 it reached 0.96 bpp /
# 30.37 dB on Kodak, 2.1 dB below JPEG at that rate (rung 5: 0.80 bpp / 30.12 dB); the top rates need more filters.
source "$(dirname "$0")/train_common.sh"
declare -A DONOR=([1]=2 [3]=2 [4]=3 [5]=4 [6]=5)

pick_rungs "2 1 3 4 5" "1 2 3 4 5 6" "$@"
for rung in "${RUNGS[@]}"; do
  name=$(n64_name "$rung")
  donor="runs/$(n64_name "${DONOR[$rung]:-0}")/weights/latest"
  [ -e "$donor.index" ] || donor=$(model_path "$(n64_name "${DONOR[$rung]:-0}")")
  case "$rung" in
    2) schedule=(--steps 18000 --lr 5e-4 --final-lr 5e-5) ;;
    # The top rate moves slowly from its neighbour (rung 5's 4,000 steps went from 0.58 to 0.80 bpp).
    6) schedule=(--steps 6000 --lr 5e-4 --final-lr 3e-5 --init-from "$donor") ;;
    *) schedule=(--steps 4000 --lr 3e-4 --final-lr 3e-5 --init-from "$donor") ;;
  esac
  [ -e "runs/$name/joint/metadata.json" ] ||
    "$TFCOMP" train -a bls2017 -N 64 --lambda "${LAMBDA[$rung]}" "${DATA[@]}" "${schedule[@]}" \
        --workdir "runs/$name" "runs/$name/joint"
  if [[ " ${DECODER_RUNGS[*]} " == *" $rung "* ]]; then
    "$TFCOMP" train -a bls2017 -N 64 --lambda "${LAMBDA[$rung]}" "${DATA[@]}" "${DECODER_STAGE[@]}" \
        --init-from "runs/$name/joint" --workdir "runs/$name-decoder" "$(model_path "$name")"
  else  # the joint stage's last checkpoint, saved under the rung's name
    "$TFCOMP" train -a bls2017 -N 64 --lambda "${LAMBDA[$rung]}" "${DATA[@]}" "${schedule[@]}" \
        --workdir "runs/$name" --export-only "$(model_path "$name")"
  fi
done
