#!/usr/bin/env bash
# Run on a GPU machine (Python 3.12 + JAX, no TensorFlow) through the device tool, from the repo root:
#   scripts/gpu/train_n192.sh SECONDS OUTDIR
# Trains six N=192 bls2017 models at once on the one GPU, each for SECONDS of wall time: the decoder study
# (baseline and K3x3 decoders at the ladder's lambdas 0.003 and 0.008, same seed, so the same encoder start)
# and two candidates for the ladder's top rung (lambda 0.04 and 0.08). Data: .gpu/bsds500_train (the BSDS500
# training JPEGs) and .gpu/kodak (evaluation only), copied there beforehand (.gpu is git-ignored).
# MODELS="name lambda decoder,..." and LR (default 3e-4) override the list and the peak learning rate.
# Each model comes back as OUTDIR/NAME.tar (npz with float16 kernels + json record + log);
# scripts/gpu/import_model.py turns it into a tfcomp model. Before the call, move saved_models/ out of the
# working tree (the device tool sends at most 64 MiB) and put it back after.
set -uo pipefail
seconds=$1 out=$2
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import jax, optax; print('jax', jax.__version__, jax.devices())"
work=$(mktemp -d)
default_models=("b2 0.003 baseline" "k2 0.003 K3x3" "b3 0.008 baseline" "k3 0.008 K3x3" "t04 0.04 baseline" "t08 0.08 baseline")
IFS=, read -r -a models <<<"${MODELS:-$(IFS=,; echo "${default_models[*]}")}"
for spec in "${models[@]}"; do
  read -r name lmbda decoder <<<"$spec"
  # Each model is packed as soon as it ends, so a later overrun cannot lose it.
  (PYTHONPATH=. python3 scripts/gpu/bls2017_jax.py --name "$name" --lambda "$lmbda" --decoder "$decoder" -N 192 \
      --seconds "$seconds" --train-data .gpu/bsds500_train --kodak "${KODAK:-.gpu/kodak}" --half-kernels --lr "${LR:-3e-4}" \
      --out "$work/$name.npz" >"$work/$name.log" 2>&1
   tar -C "$work" -cf "$out/$name.tar" "$name.npz" "$name.json" "$name.log") &
done
while [ -n "$(jobs -r)" ]; do
  sleep 30
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
  tail -qn1 "$work"/*.log
done
wait
tail -qn1 "$work"/*.log
