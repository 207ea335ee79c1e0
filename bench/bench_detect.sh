#!/usr/bin/env bash
# bench/bench_detect.sh: face detection + alignment on the CPU against its peer, in one run.
#
#   facerec  bench_detect: MTCNN through the engine's graphs, a detector per thread taking 4
#            images per run, plus the 150x150 dlib chip of each image's main face
#   peer     tests/ref/mtcnn/mtcnn_ref.py --backend torch: detect_face()'s algorithm with the
#            networks in PyTorch (float32, what facenet-pytorch-style ports run), the same
#            weights, OpenCV resizing; detection only (no chip), one image at a time
# Both on the same decoded LFW images (decoding not timed), best of 3 passes, at 1 and all
# threads. Then the whole `facerec embed` pipeline on LFW DevTrain images, with and without
# alignment, for what alignment costs a batch run. Prints a Markdown table.
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
  "$build/bench/bench_detect" --count "$count" --threads "$t" --repeat 3 > "$work/ours.json"
  "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("| facerec (MTCNN + dlib chip) | %d | %.1f | %d |" % (d["threads"], d["images_per_s"], d["faces"]))' "$work/ours.json"
  # shellcheck disable=SC2046
  "$py" "$root/tests/ref/mtcnn/mtcnn_ref.py" --weights "$data/mtcnn" --backend torch --threads "$t" \
    --repeat 3 -o "$work/peer.json" $(cat "$work/list")
  "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); n=len(d["images"]); print("| torch peer (detect_face) | %s | %.1f | %d |" % (sys.argv[2], n / d["seconds"], sum(len(i["boxes"]) for i in d["images"])))' "$work/peer.json" "$t"
done

# the pipeline: decode + (detect + align) + dlib network, all threads
head -n 1000 "$work/all" > "$work/pipeline"
echo
echo "| facerec embed, 1000 LFW images, $threads threads | seconds | images/s |"
echo "|---|---|---|"
for align in none auto; do
  # shellcheck disable=SC2046
  start=$(date +%s.%N)
  "$build/facerec" embed --quiet --align "$align" $(cat "$work/pipeline") -o "$work/e.npy" || true
  end=$(date +%s.%N)
  "$py" -c 'import sys; s=float(sys.argv[2])-float(sys.argv[1]); print("| --align %s | %.1f | %.1f |" % (sys.argv[3], s, 1000/s))' "$start" "$end" "$align"
done
