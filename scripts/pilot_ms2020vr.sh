#!/usr/bin/env bash
# Pilots for the product codec (ms2020vr): candidate widths, slice counts and transforms trained for the same
# wall time on this 2-core CPU, then compared on BSDS500 validation images (scripts/pilot_report.py).
#
# Equal wall time: each pilot's step count is 300 s divided by its seconds per step, measured on this machine
# with 2 threads (batch 8, 128x128 crops): 0.66 s (N=192, 4 slices), 0.64 s (1 slice), 0.71 s (8 slices),
# 0.37 s (N=128). Two pilots run at a time, each pinned to one core, so a pair shares the machine evenly.
# Resumable: a finished pilot is not trained again (its workdir holds the record).
#
#   scripts/pilot_ms2020vr.sh [PILOT ...]      (default: all four)
source "$(dirname "$0")/train_common.sh"
OUT=runs/pilots
COMMON=(-a ms2020vr "${DATA[@]}" --lr 1e-4 --final-lr 1e-4 --steps-per-epoch 20 --hyper-filters 128)
WARM=(--init-from saved_models/bls2017-mse-6 --donor-lambda 0.035)
declare -A PILOT=(
  [n192-s4-warm]="-N 192 --slices 4 --steps 460 ${WARM[*]}"
  [n192-s1-warm]="-N 192 --slices 1 --steps 480 ${WARM[*]}"
  [n192-s8-warm]="-N 192 --slices 8 --steps 420 ${WARM[*]}"
  [n128-s4-scratch]="-N 128 --slices 4 --steps 820"
)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(n192-s4-warm n192-s1-warm n192-s8-warm n128-s4-scratch)
run() {  # name core
  # shellcheck disable=SC2086
  taskset -c "$2" nice -n 10 "$TFCOMP" train "${COMMON[@]}" ${PILOT[$1]} --workdir "$OUT/$1" "$OUT/models/$1" \
    > "$OUT/$1.log" 2>&1
}
mkdir -p "$OUT/models"
for ((i = 0; i < ${#names[@]}; i += 2)); do
  run "${names[i]}" 0 &
  [ -z "${names[i + 1]:-}" ] || run "${names[i + 1]}" 1 &
  wait
done
# Each pilot's curve at its 8 levels on 24 BSDS500 validation images (real files), beside WebP's; the pilot
# with the lowest BD-rate against WebP wins and continues as the product run (scripts/train_product.sh).
for name in "${names[@]}"; do
  [ -f "$OUT/eval/$name/summary.json" ] || TFCOMP_MODELS=$OUT/models nice -n 10 "$TFCOMP" evaluate "$name" webp \
    --images ../shared/datasets/bsds500/val --limit 24 --in-process --timing-images 0 --out "$OUT/eval/$name" \
    > "$OUT/eval-$name.log" 2>&1
done
.venv/bin/python - "$OUT" "${names[@]}" <<'PY'
import json, sys
out, names = sys.argv[1], sys.argv[2:]
print("| pilot | steps | wall time (s) | BD-rate vs WebP, PSNR | bpp / PSNR at levels 1, 4, 8 |")
print("|---|---|---|---|---|")
for name in names:
    summary = json.load(open(f"{out}/eval/{name}/summary.json"))
    progress = json.load(open(f"{out}/{name}/progress.json"))
    family = next(f for f in summary["curves"] if f != "webp")
    curve = summary["curves"][family]
    points = ", ".join(f"{curve[i]['bpp']:.3f} / {curve[i]['psnr']:.2f}" for i in (0, 3, len(curve) - 1))
    print(f"| {name} | {progress['steps']} | {progress['wall_time_s']:.0f} | "
          f"{summary['bd_rate'][family]['webp']['psnr']:+.1f}% | {points} |")
PY
