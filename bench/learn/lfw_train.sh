#!/usr/bin/env bash
# bench/learn/lfw_train.sh: the evidence for `facerec train` (docs/learning.md). LFW DevTrain's
# people are split in two by a seeded shuffle (bench/learn/split.py): dlib's last layer is
# trained on one half (with the trainer's own held-out validation people inside it), and
# verification accuracy is measured before and after on pairs of the other half's people
# only, no test identity ever trained on. VARIANT clean uses the images as they are; lowres
# a domain-shifted copy (1/4 resolution, grayscale: bench/learn/degrade.py), where the base
# model is weaker.
#
# usage: bench/learn/lfw_train.sh BUILD_DIR [clean|lowres] [extra train options...]
# Output in $OUT (default /tmp/facerec-learn-bench/VARIANT): train.json, base.csv,
# trained.csv and the two `facerec eval --json` results; the last lines summarize.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:?usage: lfw_train.sh BUILD_DIR [clean|lowres]}"
variant="${2:-clean}"
shift 2 || shift $#
bin="$build/facerec"
py=/usr/bin/python3
lfw="$root/../shared/data/lfw_devtrain/images"
base="${OUT:-/tmp/facerec-learn-bench}"
out="$base/$variant"
mkdir -p "$out"
images="$lfw"
if [ "$variant" = lowres ]; then
    "$py" "$root/bench/learn/degrade.py" "$lfw" "$base/lowres-images" --factor 4
    images="$base/lowres-images"
    # degrade.py keeps the tree; split.py reads pairsDevTrain.txt beside the images
    ln -sf "$(dirname "$lfw")/pairsDevTrain.txt" "$base/pairsDevTrain.txt"
fi
"$py" "$root/bench/learn/split.py" "$images" "$out" --seed 1
common=(--face central --quiet)
start=$(date +%s)
"$bin" train --dir "$out/train" -o "$out/trained.frw" --cache "$base/cache" --face central \
    --skip-unreadable --json "$@" > "$out/train.json" 2> "$out/train.log" || [ $? = 3 ]
echo "train: $(( $(date +%s) - start )) s (log: $out/train.log)"
for m in base trained; do
    w=(); [ $m = trained ] && w=(--weights "$out/trained.frw")
    "$bin" pairs "$out/test_pairs.tsv" "${common[@]}" "${w[@]}" -o "$out/$m.csv" || [ $? = 3 ]
    "$bin" eval "$out/$m.csv" --json > "$out/$m.eval.json"
done
"$py" - "$out" <<'PY'
import json, sys
d = sys.argv[1]
t = json.load(open(d + "/train.json"))
print("training:", json.dumps(t["data"]), json.dumps(t["result"]))
for m in ("base", "trained"):
    e = json.load(open(d + "/%s.eval.json" % m))
    e = e.get("evaluation", e)
    print("%-8s held-out pairs: %s" % (m, {k: e[k] for k in e if k in (
        "pairs", "accuracy_mean", "accuracy_std", "threshold", "tar_at_far", "auc")}))
PY
