#!/usr/bin/env bash
# test_pipeline.sh: the batched pipeline (--pipeline batched: decode threads only decode, each
# batch detected, cut and embedded as a whole on one execution context, the way a GPU runs it)
# against the threads pipeline (each decode thread detects and cuts its own images), both on
# the CPU: the same bytes in every output (embeddings, paths, faces) and the same lines on
# stderr, on LFW images, group photos (2x2 and 3x1 mosaics of LFW images: several faces each,
# of mixed sizes), 150x150 chips taken as they are (auto), an image without a face and a
# broken file in their places; with --all-faces, --align mtcnn and landmarks68, --flip,
# --jitter, --raw, batches that split an image's faces and groups. Then the options' errors
# (--pipeline, and --decode, which chooses the batched pipeline's decode stage).
set -uo pipefail
bin="$FACEREC_BIN"; data="$FACEREC_DATA"; py="$FACEREC_PYTHON"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
"$py" -c "import numpy, PIL" 2>/dev/null || { echo "numpy and Pillow needed for the inputs"; exit 77; }

lfw="$data/lfw_devtrain/images"
mkdir -p "$tmp/in"
find "$lfw" -name '*.jpg' | LC_ALL=C sort | awk 'NR % 37 == 1' | head -n 20 > "$tmp/lfw"
"$py" - "$tmp/lfw" "$data/dlib_johns" "$tmp/in" <<'EOF'
import glob, shutil, sys
from PIL import Image
lfw, johns, out = sys.argv[1:]
paths = open(lfw).read().split()
for i, p in enumerate(paths[:12]):
    shutil.copy(p, f"{out}/a{i:02d}.jpg")
for k in range(2):  # 2x2 mosaics, 500x500, and 3x1 at half size, 375x125
    m = Image.new("RGB", (500, 500))
    for j, p in enumerate(paths[12 + 4 * k: 16 + 4 * k]):
        m.paste(Image.open(p).convert("RGB"), (250 * (j % 2), 250 * (j // 2)))
    m.save(f"{out}/m{k}.jpg", quality=92)
    s = Image.new("RGB", (375, 125))
    for j in range(3):
        s.paste(Image.open(paths[k + 3 * j]).convert("RGB").resize((125, 125)), (125 * j, 0))
    s.save(f"{out}/s{k}.jpg", quality=92)
for i, p in enumerate(sorted(glob.glob(f"{johns}/*/*.jpg"))[:3]):  # 150x150 chips
    shutil.copy(p, f"{out}/c{i}.jpg")
Image.new("RGB", (200, 160), (90, 120, 150)).save(f"{out}/n_noface.png")
open(f"{out}/b_broken.jpg", "wb").write(open(paths[0], "rb").read()[:300])
EOF

# both pipelines with the same options: exit status, stderr and every output file equal
compare() { # name options...
  local name="$1"; shift
  local p rc=()
  for p in threads batched; do
    "$bin" embed --quiet --pipeline "$p" "$@" "$tmp/in" -o "$tmp/$name.$p.npy" 2>"$tmp/$name.$p.err"
    rc+=($?)
  done
  [ "${rc[0]}" = "${rc[1]}" ] || fail "$name: exit ${rc[0]} (threads) against ${rc[1]} (batched)"
  cmp -s "$tmp/$name.threads.err" "$tmp/$name.batched.err" ||
    fail "$name: stderr differs: $(diff "$tmp/$name.threads.err" "$tmp/$name.batched.err" | head -4)"
  local ext found=0
  for ext in npy paths faces.csv; do
    [ -e "$tmp/$name.threads.$ext" ] || continue
    found=$((found + 1))
    cmp -s "$tmp/$name.threads.$ext" "$tmp/$name.batched.$ext" || fail "$name: .$ext differs"
  done
  [ "$found" -ge 2 ] || fail "$name: no outputs ($(head -c 300 "$tmp/$name.threads.err"))"
  local rows; rows=$("$py" -c "import numpy,sys; print(len(numpy.load(sys.argv[1])))" "$tmp/$name.threads.npy" 2>/dev/null)
  echo "$name: ${rows:-?} rows, exit ${rc[0]}, $(wc -l < "$tmp/$name.threads.err") lines on stderr: equal"
}
compare main --threads 1
compare all --all-faces --batch 5
compare mtcnn_all --align mtcnn --all-faces --batch 7
compare lm68_central --align landmarks68 --face central
compare flip_all --all-faces --flip --batch 6 --threads 1
compare jitter --jitter 2 --batch 9 --raw
compare face_index --face 2 --batch 7

# the counts the comparison relies on: faces found in the mosaics, chips and failures in place
"$py" - "$tmp" <<'EOF' || fail "the inputs do not exercise what they should"
import csv, sys
t = sys.argv[1]
paths = open(f"{t}/all.threads.paths").read().split("\n")
rows = list(csv.reader(open(f"{t}/all.threads.faces.csv")))
mosaic = sum(1 for p in paths if p.rsplit("/", 1)[-1].startswith("m"))
assert mosaic >= 6, f"{mosaic} faces in the 2x2 mosaics"
err = open(f"{t}/all.threads.err").read()
assert "n_noface.png" in err and "b_broken.jpg" in err, err
EOF

# the option: its values, and a bad one refused with one line
"$bin" embed --pipeline fast "$tmp/in" -o "$tmp/x.npy" 2>"$tmp/err" && fail "--pipeline fast accepted"
grep -q -- "--pipeline: 'fast': expected auto, threads or batched" "$tmp/err" || fail "--pipeline fast: $(cat "$tmp/err")"
[ ! -e "$tmp/x.npy" ] || fail "--pipeline fast wrote an output"
"$bin" embed --help 2>&1 | grep -q -- "--pipeline auto|threads|batched" || fail "embed --help has no --pipeline"
# --decode: nvjpeg where it cannot be had is one line and exit 4 with nothing written, for the
# batched pipeline too (its decode stage on the device); a bad value a usage error; the
# option overrides FACEREC_DECODE
if [ "$("$bin" info 2>/dev/null | grep -c 'no usable GPU')" != 0 ]; then
  "$bin" embed --quiet --decode nvjpeg --pipeline batched "$tmp/in" -o "$tmp/x.npy" 2>"$tmp/err"
  [ $? = 4 ] && grep -q "GPU JPEG decoding" "$tmp/err" && [ "$(wc -l < "$tmp/err")" = 1 ] ||
    fail "--decode nvjpeg without a GPU: $(cat "$tmp/err")"
  [ ! -e "$tmp/x.npy" ] || fail "--decode nvjpeg without a GPU wrote an output"
fi
"$bin" embed --quiet --decode turbo "$tmp/in" -o "$tmp/x.npy" 2>"$tmp/err"
[ $? = 2 ] && grep -q -- "--decode turbo: expected cpu or nvjpeg" "$tmp/err" || fail "--decode turbo: $(cat "$tmp/err")"
FACEREC_DECODE=nvjpeg "$bin" embed --quiet --decode cpu "$data/dlib_johns/John_Simm" -o "$tmp/cpu.npy" 2>"$tmp/err" ||
  fail "--decode cpu beside FACEREC_DECODE=nvjpeg: $(cat "$tmp/err")"

[ "$failures" = 0 ] && echo "test_pipeline: PASS" || { echo "test_pipeline: $failures failures"; exit 1; }
