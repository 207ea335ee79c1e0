#!/usr/bin/env bash
# bench/bench_detect.sh: face detection + alignment on the CPU against its peer, in one run.
#
#   facerec  bench_detect: MTCNN through the engine's graphs, a detector per thread taking 4
#            images per run, plus the 150x150 dlib chip of each image's main face, from its
#            68 landmarks (face-api's landmark net, the default) or from MTCNN's 5
#   peer     tests/ref/mtcnn/mtcnn_ref.py --backend torch: detect_face()'s algorithm with the
#            networks in PyTorch (float32, what facenet-pytorch-style ports run), the same
#            weights, OpenCV resizing; detection only (no chip), one image at a time
# Both on the same decoded LFW images (decoding not timed), best of 3 passes, at 1 and all
# threads. The landmark network alone against face-api's own (tests/ref/faceapi/landmarks.mjs,
# tfjs wasm, one face at a time as detectLandmarks runs them), one thread each. Then the whole
# `facerec embed` pipeline on LFW DevTrain images, without alignment and with each kind, for
# what alignment costs a batch run, and with --flip (a second network pass per face) for what
# mirror averaging costs. Prints Markdown tables.
#
# usage: bench/bench_detect.sh [build-dir] [images]      (run on an otherwise idle machine)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
build="${1:-$root/build}"
count="${2:-200}"
py="${FACEREC_PYTHON:-/usr/bin/python3}"
data="${FACEREC_DATA:-$root/../shared/data}"
export FACEREC_DATA="$data"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
threads=$(nproc)
lfw="$data/lfw_devtrain/images"

# the first $count images of a sorted walk, as bench_detect takes them
find "$lfw" -type f \( -name '*.jpg' -o -name '*.png' \) | LC_ALL=C sort > "$work/all"
head -n "$count" "$work/all" > "$work/list"

echo "| detection + alignment, $count LFW images (250x250) | threads | images/s | faces |"
echo "|---|---|---|---|"
for t in 1 "$threads"; do
  for align in landmarks68 mtcnn; do
    "$build/bench/bench_detect" --count "$count" --threads "$t" --repeat 3 --align "$align" > "$work/ours.json"
    "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); what={"landmarks68": "MTCNN + 68 landmarks + dlib chip", "mtcnn": "MTCNN + 5-point dlib chip"}[d["align"]]; print("| facerec (%s) | %d | %.1f | %d |" % (what, d["threads"], d["images_per_s"], d["faces"]))' "$work/ours.json"
  done
  # shellcheck disable=SC2046
  "$py" "$root/tests/ref/mtcnn/mtcnn_ref.py" --weights "$data/mtcnn" --backend torch --threads "$t" \
    --repeat 3 -o "$work/peer.json" $(cat "$work/list")
  "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); n=len(d["images"]); print("| torch peer (detect_face) | %s | %.1f | %d |" % (sys.argv[2], n / d["seconds"], sum(len(i["boxes"]) for i in d["images"])))' "$work/peer.json" "$t"
done

# the landmark network alone: facerec's CPU backend (batch 1, one thread: how the engine runs
# it on the CPU) against face-api's own on the same random 112x112 crops, one at a time
echo
echo "| 68-point landmark network alone (112x112 input), 1 thread | faces/s |"
echo "|---|---|"
"$py" -c 'import numpy as np,sys; np.save(sys.argv[1], np.random.default_rng(5).integers(0, 256, (100, 112, 112, 3), dtype=np.uint8))' "$work/crops.npy"
"$build/bench/bench_network" --weights "$root/weights/landmark68.frw" --batch 1 --iters 200 --threads 1 > "$work/lm.json"
"$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("| facerec (CPU backend, fp32) | %.0f |" % d["images_per_s"])' "$work/lm.json"
node "$root/tests/ref/faceapi/landmarks.mjs" --model-dir "$root/weights/cache/face-api/package/model" \
  --input "$work/crops.npy" --output "$work/lm.npy" --net-only 2> "$work/lm.log"
"$py" -c 'import re,sys; t=open(sys.argv[1]).read(); n,ms=re.search(r"landmarks: (\d+) crops in ([\d.]+) ms", t).groups(); print("| face-api 1.7.15 (tfjs 4.22 wasm), detectLandmarks | %.0f |" % (int(n) / float(ms) * 1000))' "$work/lm.log"

# the pipeline: decode + (detect + align) + dlib network, all threads
head -n 1000 "$work/all" > "$work/pipeline"
echo
echo "| facerec embed, 1000 LFW images, $threads threads | seconds | images/s |"
echo "|---|---|---|"
for run in none mtcnn auto "none --flip" "auto --flip"; do
  start=$(date +%s.%N)
  # shellcheck disable=SC2046,SC2086
  "$build/facerec" embed --quiet --align $run $(cat "$work/pipeline") -o "$work/e.npy" || true
  end=$(date +%s.%N)
  "$py" -c 'import sys; s=float(sys.argv[2])-float(sys.argv[1]); print("| --align %s | %.1f | %.1f |" % (sys.argv[3], s, 1000/s))' "$start" "$end" "$run"
done
