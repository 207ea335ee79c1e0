#!/usr/bin/env bash
# bench/cpu_network.sh: the CPU network benchmark of issue 2. For dlib (the shipped weights)
# and irv1 (random weights in the real Keras layout: same arithmetic as trained ones), at
# batch 1, 16 and 64: facerec's images/s against PyTorch running the same graph with the same
# folded weights and the same number of threads, in the same run (eager, and the stronger
# torch.jit freeze + optimize_for_inference), plus facerec's GFLOP/s as a fraction of the
# FMA peak measured on all threads at once. facerec runs its default CPU path (oneDNN's
# convolution primitives), the im2col + sgemm reference path (FACEREC_CPU_CONV=im2col) and,
# where the CPU has AVX512-BF16 or AMX, --precision bf16. Prints a Markdown table.
#
# usage: [REPS=3] [MODELS="dlib irv1"] [BATCHES="1 16 64"] bench/cpu_network.sh [build-dir] [threads]
# (run on an otherwise idle machine)
# Each figure is the median of REPS rounds that run facerec's paths and both torch modes in turn.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
build="${1:-$root/build}"
threads="${2:-$(nproc)}"
reps="${REPS:-3}"
py="${FACEREC_PYTHON:-/usr/bin/python3}"
data="${FACEREC_DATA:-$root/../shared/data}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bench="$build/bench/bench_network"

"$py" "$root/tests/ref/keras_irv1/make_h5.py" --model-json "$data/keras-facenet/model.json" \
  --layout weights --seed 3 -o "$work/irv1.h5" >/dev/null
"$build/facerec" convert --from keras-h5 "$work/irv1.h5" -o "$work/irv1.frw" 2>/dev/null
peak=$("$bench" --peak --threads "$threads" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["fma_peak_gflops"])')

bf16=$("$bench" --weights "$root/weights/dlib.frw" --batch 1 --iters 1 --threads 1 --precision bf16 \
  >/dev/null 2>&1 && echo 1 || echo 0)
echo "| model | batch | facerec img/s | GFLOP/s | % of FMA peak ($peak GFLOP/s, $threads threads) | im2col img/s | torch eager img/s | torch freeze img/s | facerec / best torch | facerec / im2col | bf16 img/s | bf16 / best torch |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for model in ${MODELS:-dlib irv1}; do
  weights="$root/weights/dlib.frw"
  [ "$model" = irv1 ] && weights="$work/irv1.frw"
  mkdir -p "$work/$model"
  "$bench" --weights "$weights" --export "$work/$model"
  for batch in ${BATCHES:-1 16 64}; do
    iters=$(( batch == 1 ? 30 : (batch == 16 ? 8 : 4) ))
    : >"$work/runs"
    # REPS rounds, each running the three in turn, so that a slow spell of a shared machine
    # falls on all of them; the table reports each one's median over the rounds.
    for _ in $(seq "$reps"); do
      "$bench" --weights "$weights" --batch "$batch" --iters "$iters" --threads "$threads" \
        | sed 's/^/ours /' >>"$work/runs"
      FACEREC_CPU_CONV=im2col "$bench" --weights "$weights" --batch "$batch" --iters "$iters" \
        --threads "$threads" | sed 's/^/im2col /' >>"$work/runs"
      if [ "$bf16" = 1 ]; then
        "$bench" --weights "$weights" --batch "$batch" --iters "$iters" --threads "$threads" \
          --precision bf16 | sed 's/^/bf16 /' >>"$work/runs"
      fi
      for mode in eager freeze; do
        "$py" "$here/torch_peer.py" --export "$work/$model" --batch "$batch" --threads "$threads" \
          --iters "$iters" --mode "$mode" 2>/dev/null | sed "s/^/$mode /" >>"$work/runs"
      done
    done
    "$py" - "$model" "$batch" "$peak" "$work/runs" <<'PY'
import json, statistics, sys
model, batch, peak = sys.argv[1], sys.argv[2], float(sys.argv[3])
runs = {}
for line in open(sys.argv[4]):
    who, text = line.split(" ", 1)
    runs.setdefault(who, []).append(json.loads(text))
def median(who, key):
    return statistics.median(r[key] for r in runs[who])
ours, im2col, eager, freeze = (median(w, "images_per_s") for w in ("ours", "im2col", "eager", "freeze"))
gflops = median("ours", "gflops")
best = max(eager, freeze)
bf16 = f"{median('bf16', 'images_per_s'):.1f} | {median('bf16', 'images_per_s') / best:.2f}x" \
    if "bf16" in runs else "(no AVX512-BF16/AMX) | -"
print(f"| {model} | {batch} | {ours:.1f} | {gflops:.1f} | {100 * gflops / peak:.0f} % | "
      f"{im2col:.1f} | {eager:.1f} | {freeze:.1f} | {ours / best:.2f}x | {ours / im2col:.2f}x | {bf16} |")
PY
  done
done
