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
# usage: [REPS=3] [MODELS="dlib irv1"] [BATCHES="1 16 64"] [RUNS="ours im2col bf16 eager freeze"]
#        [ITERS=N] [WRAP=cmd] bench/cpu_network.sh [build-dir] [threads]
# (run on an otherwise idle machine)
# Each figure is the median of REPS rounds that run facerec's paths and both torch modes in turn.
# RUNS picks what each round runs (the default above; also freeze_nchw: torch freeze in
# contiguous NCHW, which torch 1.13's oneDNN path can prefer on the CPU; "best torch" is the
# fastest torch run measured; direct: the primitives with FACEREC_CPU_WINOGRAD=0, every
# convolution direct; winograd: the primitives with FACEREC_CPU_WINOGRAD=1, Winograd for 3x3
# stride-1 convolutions, which is also the default since 2026-12-03). WRAP prefixes every timed command (e.g. /work/bgpause, which
# pauses a background job for the run). A second table lists each round's facerec / best
# torch ratio, so that the spread between rounds shows.
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

if [[ " ${MODELS:-dlib irv1} " == *" irv1 "* ]]; then
  "$py" "$root/tests/ref/keras_irv1/make_h5.py" --model-json "$data/keras-facenet/model.json" \
    --layout weights --seed 3 -o "$work/irv1.h5" >/dev/null
  "$build/facerec" convert --from keras-h5 "$work/irv1.h5" -o "$work/irv1.frw" 2>/dev/null
fi
peak=$("$bench" --peak --threads "$threads" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["fma_peak_gflops"])')

bf16=$("$bench" --weights "$root/weights/dlib.frw" --batch 1 --iters 1 --threads 1 --precision bf16 \
  >/dev/null 2>&1 && echo 1 || echo 0)
echo "| model | batch | facerec img/s | GFLOP/s | % of FMA peak ($peak GFLOP/s, $threads threads) | im2col img/s | torch eager img/s | torch freeze nhwc / nchw img/s | facerec / best torch | facerec / im2col | bf16 img/s | bf16 / best torch | direct img/s | facerec / direct | winograd img/s | winograd / best torch |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
runs_wanted=" ${RUNS:-ours im2col bf16 eager freeze} "
want() { [[ "$runs_wanted" == *" $1 "* ]]; }
wrap=(${WRAP:-})
for model in ${MODELS:-dlib irv1}; do
  weights="$root/weights/dlib.frw"
  [ "$model" = irv1 ] && weights="$work/irv1.frw"
  mkdir -p "$work/$model"
  "$bench" --weights "$weights" --export "$work/$model"
  for batch in ${BATCHES:-1 16 64}; do
    iters=${ITERS:-$(( batch == 1 ? 30 : (batch == 16 ? 8 : 4) ))}
    : >"$work/runs"
    # REPS rounds, each running the paths in turn, so that a slow spell of a shared machine
    # falls on all of them; the table reports each one's median over the rounds.
    for round in $(seq "$reps"); do
      run=("$bench" --weights "$weights" --batch "$batch" --iters "$iters" --threads "$threads")
      if want ours; then
        "${wrap[@]}" "${run[@]}" | sed "s/^/ours $round /" >>"$work/runs"
      fi
      if want winograd; then
        FACEREC_CPU_WINOGRAD=1 "${wrap[@]}" "${run[@]}" | sed "s/^/winograd $round /" >>"$work/runs"
      fi
      if want direct; then
        FACEREC_CPU_WINOGRAD=0 "${wrap[@]}" "${run[@]}" | sed "s/^/direct $round /" >>"$work/runs"
      fi
      if want im2col; then
        FACEREC_CPU_CONV=im2col "${wrap[@]}" "${run[@]}" | sed "s/^/im2col $round /" >>"$work/runs"
      fi
      if want bf16 && [ "$bf16" = 1 ]; then
        "${wrap[@]}" "${run[@]}" --precision bf16 | sed "s/^/bf16 $round /" >>"$work/runs"
      fi
      for mode in eager freeze freeze_nchw; do
        want "$mode" || continue
        layout=nhwc
        [ "$mode" = freeze_nchw ] && layout=nchw
        "${wrap[@]}" "$py" "$here/torch_peer.py" --export "$work/$model" --batch "$batch" \
          --threads "$threads" --iters "$iters" --mode "${mode%_nchw}" --layout "$layout" \
          2>/dev/null | sed "s/^/$mode $round /" >>"$work/runs"
      done
    done
    line=$("$py" - "$model" "$batch" "$peak" "$work/runs" 2>>"$work/rounds" <<'PY'
import json, statistics, sys
model, batch, peak = sys.argv[1], sys.argv[2], float(sys.argv[3])
runs, rounds = {}, {}
for line in open(sys.argv[4]):
    who, rnd, text = line.split(" ", 2)
    r = json.loads(text)
    runs.setdefault(who, []).append(r)
    rounds.setdefault(rnd, {})[who] = r["images_per_s"]
def median(who, key="images_per_s"):
    return statistics.median(r[key] for r in runs[who]) if who in runs else None
def fmt(v, spec=".1f", unit=""):
    return "-" if v is None else f"{v:{spec}}{unit}"
torches = ("eager", "freeze", "freeze_nchw")
ours, im2col, bf16, direct = median("ours"), median("im2col"), median("bf16"), median("direct")
wino = median("winograd")
best = max((median(t) for t in torches if t in runs), default=None)
gflops = median("ours", "gflops")
ratio = lambda a, b: None if a is None or not b else a / b
print(f"| {model} | {batch} | {fmt(ours)} | {fmt(gflops)} | "
      f"{fmt(None if gflops is None else 100 * gflops / peak, '.0f', ' %')} | {fmt(im2col)} | "
      f"{fmt(median('eager'))} | {fmt(median('freeze'))} / {fmt(median('freeze_nchw'))} | "
      f"{fmt(ratio(ours, best), '.2f', 'x')} | {fmt(ratio(ours, im2col), '.2f', 'x')} | "
      f"{fmt(bf16)} | {fmt(ratio(bf16, best), '.2f', 'x')} | {fmt(direct)} | "
      f"{fmt(ratio(ours, direct), '.2f', 'x')} | {fmt(wino)} | {fmt(ratio(wino, best), '.2f', 'x')} |")
per = []
for rnd in sorted(rounds, key=int):
    r = rounds[rnd]
    t = max((r[k] for k in torches if k in r), default=None)
    per.append(fmt(ratio(r.get("ours"), t), ".2f", "x"))
    for other in ("direct", "winograd"):
        if other in r:
            per[-1] += f" ({other} {fmt(ratio(r[other], t), '.2f', 'x')})"
print(f"| {model} | {batch} | {', '.join(per)} |", file=sys.stderr)
PY
)
    echo "$line"
  done
done
echo
echo "| model | batch | facerec / best torch, each round (direct, winograd: the same for FACEREC_CPU_WINOGRAD=0, =1) |"
echo "|---|---|---|"
cat "$work/rounds"
