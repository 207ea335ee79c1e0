#!/usr/bin/env bash
# test_detect_cli.sh: `facerec detect` and alignment in `embed` as a user meets them: faces
# written as CSV and JSON lines, drawings and chips on disk under names that never collide, an
# image without a face named and counted (exit 3, in detect as in embed), never embedded; --all-faces rows with their boxes; 150x150 dlib chips taken
# as they are under --align auto; a chip written by `detect --chips` embeds exactly like the
# image it was cut from.
set -uo pipefail
bin="$FACEREC_BIN"; data="$FACEREC_DATA"; py="$FACEREC_PYTHON"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_code() { # expected command...
  local want="$1"; shift
  "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
  [ "$got" = "$want" ] || fail "exit $got (want $want): $* -- $(head -c 400 "$tmp/err")"
}
"$py" -c "import numpy, PIL" 2>/dev/null || { echo "numpy and Pillow needed to make the inputs"; exit 77; }

lfw="$data/lfw_devtrain/images"
# inputs: two LFW images side by side (three faces: a man stands behind Boris Becker), a noise
# image and a flat one (no face), two single faces
mkdir -p "$tmp/in"
"$py" - "$lfw" "$tmp/in" <<'EOF'
import sys, numpy as np
from PIL import Image
lfw, out = sys.argv[1:]
a = np.asarray(Image.open(f"{lfw}/AJ_Cook/AJ_Cook_0001.jpg"))
b = np.asarray(Image.open(f"{lfw}/Boris_Becker/Boris_Becker_0001.jpg"))
Image.fromarray(np.hstack([a, b])).save(f"{out}/pair.png")
rng = np.random.default_rng(3)
Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)).save(f"{out}/noise.png")
Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(f"{out}/flat.png")
EOF
cp "$lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg" "$lfw/Monica_Seles/Monica_Seles_0001.jpg" "$tmp/in/"

# detect: CSV rows per face, JSON lines per image (faceless ones too), drawings, chips
expect_code 3 "$bin" detect --quiet "$tmp/in" -o "$tmp/faces.csv" --draw "$tmp/draw" --chips "$tmp/chips"
for f in noise.png flat.png; do
  grep -q "$f: no face found" "$tmp/err" || fail "detect does not say $f has no face: $(cat "$tmp/err")"
done
[ "$(grep -c "" "$tmp/err")" = 2 ] || fail "detect: want two lines on stderr: $(cat "$tmp/err")"
[ "$(head -1 "$tmp/faces.csv" | cut -d, -f1-7)" = "path,face,score,x1,y1,x2,y2" ] || fail "CSV header: $(head -1 "$tmp/faces.csv")"
[ "$(grep -c 'pair.png' "$tmp/faces.csv")" = 3 ] || fail "pair.png: want 3 faces, got $(grep -c 'pair.png' "$tmp/faces.csv")"
grep -q 'noise.png\|flat.png' "$tmp/faces.csv" && fail "a face found in noise or a flat image"
[ "$(grep -c 'Aaron_Peirsol_0001' "$tmp/faces.csv")" = 1 ] || fail "Aaron_Peirsol_0001: want one face"
[ "$(ls "$tmp/draw" | wc -l)" = 5 ] || fail "want 5 drawings, got $(ls "$tmp/draw")"
[ "$(ls "$tmp/chips" | grep -c '\.png$')" = 5 ] || fail "want 5 chips (3 + 1 + 1), got $(ls "$tmp/chips")"
"$py" - "$tmp/faces.csv" "$tmp/draw" "$tmp/chips" <<'EOF' || fail "faces.csv, drawings or chips are wrong"
import csv, glob, sys
from PIL import Image
rows = list(csv.DictReader(open(sys.argv[1])))
for r in rows:
    x1, y1, x2, y2 = (float(r[k]) for k in ("x1", "y1", "x2", "y2"))
    assert x1 < float(r["left_eye_x"]) < float(r["right_eye_x"]) < x2, r
    assert y1 < float(r["left_eye_y"]) < float(r["mouth_left_y"]) < y2, r
    assert 0.7 < float(r["score"]) <= 1, r
pair = [r for r in rows if r["path"].endswith("pair.png")]
assert sorted(int(r["face"]) for r in pair) == [0, 1, 2]
assert sum(float(r["x1"]) > 250 for r in pair) == 2, "two faces in the right half"
for f in glob.glob(sys.argv[2] + "/*"):  # each in its input's format, under its name
    assert Image.open(f).format == ("PNG" if f.endswith(".png") else "JPEG"), f
for f in glob.glob(sys.argv[3] + "/*"):
    im = Image.open(f)
    assert im.format == "PNG" and im.size == (150, 150), f
EOF
expect_code 2 "$bin" detect --quiet "$tmp/in" -o "$tmp/x.csv" --chips "$tmp/nochips" --align none
grep -q -- "--align none" "$tmp/err" || fail "detect --chips --align none: $(cat "$tmp/err")"
expect_code 3 "$bin" detect --quiet "$tmp/in" -o "$tmp/faces.jsonl"
[ "$(wc -l < "$tmp/faces.jsonl")" = 5 ] || fail "want one JSON line per image"
"$py" -c "
import json, sys
d = {json.loads(l)['path'].split('/')[-1]: json.loads(l) for l in open(sys.argv[1])}
assert d['noise.png']['faces'] == [] and d['flat.png']['faces'] == []
assert len(d['pair.png']['faces']) == 3 and d['pair.png']['width'] == 500
assert set(d['pair.png']['faces'][0]['landmarks']) == {'left_eye', 'right_eye', 'nose', 'mouth_left', 'mouth_right'}
" "$tmp/faces.jsonl" || fail "faces.jsonl is wrong"

# embed aligns by default: no face is an error naming the file (exit 3), never a row
expect_code 3 "$bin" embed --quiet "$tmp/in" -o "$tmp/emb.npy"
for f in noise.png flat.png; do
  grep -q "$f.*no face" "$tmp/err" || fail "stderr does not say $f has no face: $(cat "$tmp/err")"
done
[ "$(wc -l < "$tmp/emb.paths")" = 3 ] || fail "want 3 rows (pair, Aaron, Monica), got $(cat "$tmp/emb.paths")"
grep -q 'noise.png\|flat.png' "$tmp/emb.paths" && fail "a faceless image was embedded"
# --align none embeds whole images, faces or not
expect_code 0 "$bin" embed --quiet --align none "$tmp/in" -o "$tmp/none.npy"
[ "$(wc -l < "$tmp/none.paths")" = 5 ] || fail "--align none: want 5 rows"

# --all-faces: one row per face, with its box, in the detector's order
expect_code 3 "$bin" embed --quiet --all-faces "$tmp/in" -o "$tmp/all.npy"
[ "$(wc -l < "$tmp/all.paths")" = 5 ] || fail "--all-faces: want 5 rows (3 + 1 + 1)"
"$py" - "$tmp/all.faces.csv" "$tmp/faces.csv" <<'EOF' || fail "all.faces.csv does not match detect's faces"
import csv, sys
emb = list(csv.DictReader(open(sys.argv[1])))
det = {(r["path"], r["face"]): r for r in csv.DictReader(open(sys.argv[2]))}
assert [int(r["row"]) for r in emb] == list(range(5))
for r in emb:
    d = det[(r["path"], r["face"])]
    for k in ("x1", "y1", "x2", "y2", "nose_x", "nose_y"):
        assert abs(float(r[k]) - float(d[k])) < 0.01, (r, d)
EOF
# the pair's main face: the largest (AJ Cook's, on the left) by default; with --face central
# FaceNet's rule, the man between the two (it weighs a face's distance from the middle twice
# its area). Each is the face whose chip `detect` wrote: the same 150x150 PNG embeds to the
# same numbers under --align auto (68-point chips), and under --align mtcnn (5-point chips)
main_face() { # main.npy -> the index of the face of all.npy it is
  grep 'pair.png' "$tmp/all.faces.csv" | "$py" -c "
import csv, sys, numpy as np
rows = list(csv.reader(sys.stdin)); a = np.load(sys.argv[1]); m = np.load(sys.argv[2])[0]
print(min(rows, key=lambda r: np.abs(a[int(r[0])] - m).max())[2])" "$tmp/all.npy" "$1"
}
same_numbers() {
  "$py" -c "import numpy as np,sys; a,b=np.load(sys.argv[1]),np.load(sys.argv[2]); sys.exit(not np.abs(a-b).max()<1e-5)" "$1" "$2"
}
expect_code 0 "$bin" embed --quiet "$tmp/in/pair.png" -o "$tmp/main.npy"
main=$(main_face "$tmp/main.npy")
x1=$(grep "pair.png,$main," "$tmp/faces.csv" | cut -d, -f4 | cut -d. -f1)
[ "$x1" -lt 250 ] || fail "the main face of pair.png starts at x=$x1, not the largest (left) one"
expect_code 0 "$bin" embed --quiet --face central "$tmp/in/pair.png" -o "$tmp/central.npy"
central=$(main_face "$tmp/central.npy")
x1=$(grep "pair.png,$central," "$tmp/faces.csv" | cut -d, -f4 | cut -d. -f1)
[ "$x1" -gt 250 ] && [ "$x1" -lt 300 ] || fail "--face central: the main face of pair.png starts at x=$x1, not the middle one"
expect_code 0 "$bin" embed --quiet "$tmp/chips/pair.png.face$central.png" -o "$tmp/chip.npy"
same_numbers "$tmp/central.npy" "$tmp/chip.npy" || fail "a chip from detect --chips embeds differently from its image"
expect_code 0 "$bin" detect --quiet --align mtcnn "$tmp/in/pair.png" -o "$tmp/f5.csv" --chips "$tmp/chips5"
expect_code 0 "$bin" embed --quiet --align mtcnn --face central "$tmp/in/pair.png" -o "$tmp/central5.npy"
expect_code 0 "$bin" embed --quiet "$tmp/chips5/pair.png.face$central.png" -o "$tmp/chip5.npy"
same_numbers "$tmp/central5.npy" "$tmp/chip5.npy" || fail "a 5-point chip from detect --align mtcnn --chips embeds differently from its image"
# 68-point and 5-point chips of one face: the same person, not the same pixels
"$py" -c "import numpy as np,sys; a,b=np.load(sys.argv[1]),np.load(sys.argv[2]); d=np.linalg.norm(a-b); sys.exit(not 1e-3<d<0.4)" \
  "$tmp/central.npy" "$tmp/central5.npy" || fail "--align landmarks68 and mtcnn: chips identical, or too far apart"
# the drawing marks the main face of the rule asked for (yellow)
expect_code 0 "$bin" detect --quiet --face central "$tmp/in/pair.png" --draw "$tmp/draw_central" -o /dev/null
"$py" - "$tmp/draw/pair.png" "$tmp/draw_central/pair.png" "$tmp/faces.csv" "$main" "$central" <<'EOF' || fail "the drawings do not mark the main face in yellow"
import csv, sys
from PIL import Image
rows = {r["face"]: r for r in csv.DictReader(open(sys.argv[3])) if r["path"].endswith("pair.png")}
def yellow_at(path, face):
    im, r = Image.open(path).convert("RGB"), rows[face]
    x, y = round(float(r["x1"])), int((float(r["y1"]) + float(r["y2"])) / 2)
    red, green, blue = im.getpixel((x, y))
    return red > 150 and green > 150 and blue < 150  # yellow; the other boxes are green
assert yellow_at(sys.argv[1], sys.argv[4]) and not yellow_at(sys.argv[1], sys.argv[5])
assert yellow_at(sys.argv[2], sys.argv[5]) and not yellow_at(sys.argv[2], sys.argv[4])
EOF

# --align auto takes 150x150 dlib chips as they are: the same embeddings as --align none
expect_code 0 "$bin" embed --quiet "$data/dlib_johns/John_Simm" -o "$tmp/auto.npy"
expect_code 0 "$bin" embed --quiet --align none "$data/dlib_johns/John_Simm" -o "$tmp/whole.npy"
"$py" -c "import numpy as np,sys; a,b=np.load(sys.argv[1]),np.load(sys.argv[2]); sys.exit(not np.abs(a-b).max()<1e-6)" \
  "$tmp/auto.npy" "$tmp/whole.npy" || fail "--align auto re-aligned 150x150 chips"
# --align mtcnn detects even in chips: other embeddings, but of the same person (each row within
# 0.3 of the chip's own, under the 0.428 threshold)
expect_code 0 "$bin" embed --quiet --align mtcnn "$data/dlib_johns/John_Simm" -o "$tmp/forced.npy"
"$py" -c "import numpy as np,sys; a,b=np.load(sys.argv[1]),np.load(sys.argv[2]); d=np.linalg.norm(a-b,axis=1); sys.exit(not (d.max()>1e-4 and d.max()<0.3))" \
  "$tmp/auto.npy" "$tmp/forced.npy" || fail "--align mtcnn: chips not re-aligned, or badly"

# --align landmarks68 detects even in chips too
expect_code 0 "$bin" embed --quiet --align landmarks68 "$data/dlib_johns/John_Simm" -o "$tmp/forced68.npy"
"$py" -c "import numpy as np,sys; a,b=np.load(sys.argv[1]),np.load(sys.argv[2]); d=np.linalg.norm(a-b,axis=1); sys.exit(not (d.max()>1e-4 and d.max()<0.3))" \
  "$tmp/auto.npy" "$tmp/forced68.npy" || fail "--align landmarks68: chips not re-aligned, or badly"

# usage errors: unknown mode or face rule, --all-faces where one face per image is the rule
expect_code 2 "$bin" embed --quiet --align sideways "$tmp/in" -o "$tmp/x.npy"
grep -q "sideways" "$tmp/err" || fail "bad --align value not named"
expect_code 2 "$bin" embed --quiet --face biggest "$tmp/in" -o "$tmp/x.npy"
grep -q "biggest" "$tmp/err" || fail "bad --face value not named"
expect_code 2 "$bin" enroll --quiet --all-faces --db "$tmp/none.db" --name x "$tmp/in"
expect_code 2 "$bin" detect --min-face 5 "$tmp/in"
# unreadable among readable: named, counted, exit 3
echo "not an image" > "$tmp/in/text.jpg"
expect_code 3 "$bin" detect --quiet "$tmp/in" -o "$tmp/f2.csv"
grep -q "text.jpg" "$tmp/err" || fail "detect does not name the unreadable file"
[ -z "$(ls "$tmp" "$tmp/draw" "$tmp/chips" | grep '\.tmp\.')" ] || fail "temporary files left behind"

# an image too elongated for the detector's pyramid, grouped with faces: it alone has no face,
# the faces beside it are found and embedded
mkdir -p "$tmp/long"
cp "$lfw/AJ_Cook/AJ_Cook_0001.jpg" "$lfw/Boris_Becker/Boris_Becker_0001.jpg" "$tmp/long/"
"$py" -c "from PIL import Image; Image.new('L', (70000, 24), 128).save('$tmp/long/strip.png')"
expect_code 3 "$bin" embed --quiet "$tmp/long" -o "$tmp/long.npy"
[ "$(grep -c "" "$tmp/long.paths" 2>/dev/null)" = 2 ] || fail "faces beside a 70000x24 image were lost"
grep -q "strip.png: no face" "$tmp/err" && [ "$(grep -c "" "$tmp/err")" = 1 ] ||
  fail "a 70000x24 image: $(head -c 400 "$tmp/err")"
expect_code 3 "$bin" detect --quiet "$tmp/long" -o "$tmp/long.csv"
[ "$(grep -c "jpg" "$tmp/long.csv")" -ge 2 ] || fail "detect lost the faces beside a 70000x24 image"

# names that were one output name when '/' became '_' and the extension was dropped (a/b.jpg
# and a_b.jpg, x.jpg and x.png): each input keeps its own drawing and chips, folders kept
mkdir -p "$tmp/clash/a"
cp "$lfw/AJ_Cook/AJ_Cook_0001.jpg" "$tmp/clash/a/b.jpg"
cp "$lfw/Monica_Seles/Monica_Seles_0001.jpg" "$tmp/clash/a_b.jpg"
cp "$lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg" "$tmp/clash/x.jpg"
cp "$tmp/in/pair.png" "$tmp/clash/x.png"
expect_code 0 "$bin" detect --quiet "$tmp/clash" -o "$tmp/clash.csv" --draw "$tmp/cdraw" --chips "$tmp/cchips"
(cd "$tmp/cdraw" && find . -type f | sort | tr '\n' ' ') > "$tmp/names"
[ "$(cat "$tmp/names")" = "./a/b.jpg ./a_b.jpg ./x.jpg ./x.png " ] || fail "drawings: $(cat "$tmp/names")"
[ "$(find "$tmp/cchips" -type f | wc -l)" = 6 ] || fail "want 6 chips (1 + 1 + 1 + 3): $(find "$tmp/cchips" -type f)"
"$py" - "$tmp/clash" "$tmp/cdraw" <<'EOF' || fail "a drawing is not of its own input"
import sys, numpy as np
from PIL import Image
for name in ("a/b.jpg", "a_b.jpg", "x.jpg", "x.png"):
    a = np.asarray(Image.open(f"{sys.argv[1]}/{name}").convert("RGB"), np.float32)
    b = np.asarray(Image.open(f"{sys.argv[2]}/{name}").convert("RGB"), np.float32)
    assert a.shape == b.shape and np.median(np.abs(a - b)) < 8, name  # boxes drawn on the same photo
EOF
# an input named through ".." and one beside it: the names stay inside --draw
expect_code 0 "$bin" detect --quiet "$tmp/clash/a/../x.jpg" "$tmp/clash/a/b.jpg" --draw "$tmp/up" -o /dev/null
(cd "$tmp/up" && find . -type f | sort | tr '\n' ' ') > "$tmp/names"
[ "$(cat "$tmp/names")" = "./a/b.jpg ./x.jpg " ] || fail "drawings through '..': $(cat "$tmp/names")"

# images without a face, each alone in a run (a fresh detector: the sanitizer build once
# aborted on qsort of the detector's empty lists): named, exit 3, no row
"$py" -c "
from PIL import Image
Image.new('RGB', (8, 8), (128, 128, 128)).save('$tmp/tiny.png')
Image.new('RGB', (200, 200), (128, 128, 128)).save('$tmp/flat.png')"
for f in tiny.png flat.png; do
  expect_code 3 "$bin" detect --quiet "$tmp/$f" -o "$tmp/none.csv"
  grep -q "$f: no face found" "$tmp/err" || fail "detect $f: $(head -c 400 "$tmp/err")"
  [ "$(grep -c "" "$tmp/none.csv")" = 1 ] || fail "detect $f: rows for a faceless image"
done
# a file name with a newline: its error stays on one line, escaped as in .paths files
printf 'not an image' > "$tmp/bad
name.jpg"
expect_code 3 "$bin" detect --quiet "$tmp/bad
name.jpg" "$tmp/in/flat.png" -o /dev/null
grep -q 'bad\\nname.jpg: not a JPEG or PNG' "$tmp/err" && [ "$(grep -c "" "$tmp/err")" = 2 ] ||
  fail "a newline in a name split an error line: $(cat "$tmp/err")"

# --detector tiny+mtcnn: tiny's boxes refined by O-Net (with its five landmarks) where tiny
# finds a face, MTCNN's whole run for an image it finds none in (Al_Sharpton_0006 at 192), in
# one run of both (test_api checks the faces against each detector's own)
miss="$lfw/Al_Sharpton/Al_Sharpton_0006.jpg"; hit="$lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg"
if [ -f "${FACEREC_WEIGHTS:-}/tinyface.frw" ]; then
  expect_code 0 "$bin" detect --quiet --detector tiny+mtcnn --detector-size 192 "$hit" "$miss" \
    -o "$tmp/tm.csv"
  "$py" - "$tmp/tm.csv" <<'EOF' || fail "tiny+mtcnn: $(cat "$tmp/tm.csv")"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
hit = [r for r in rows if "Aaron_Peirsol" in r["path"]]
miss = [r for r in rows if "Al_Sharpton" in r["path"]]
assert hit and all(r["left_eye_x"] != "" for r in hit), hit      # O-Net's on tiny's box
assert len(miss) == 1 and miss[0]["left_eye_x"] != "", miss      # MTCNN's
EOF
  # the default (auto) is the model's: dlib's 68-point chips take tiny+mtcnn at 192, chips from
  # MTCNN's five points (--align mtcnn) MTCNN; the same rows as naming them
  expect_code 0 "$bin" detect --quiet "$hit" "$miss" -o "$tmp/auto.csv"
  cmp -s "$tmp/auto.csv" "$tmp/tm.csv" || fail "detect's default is not tiny+mtcnn 192 for dlib"
  expect_code 0 "$bin" detect --quiet --align mtcnn "$hit" -o "$tmp/auto5.csv"
  expect_code 0 "$bin" detect --quiet --detector mtcnn "$hit" -o "$tmp/m5.csv"
  cmp -s "$tmp/auto5.csv" "$tmp/m5.csv" || fail "detect --align mtcnn's default is not MTCNN"
  expect_code 0 "$bin" detect --quiet "$hit" -o "$tmp/auto1.csv"
  cmp -s "$tmp/auto1.csv" "$tmp/m5.csv" && fail "MTCNN and tiny+mtcnn gave the same rows"
  expect_code 2 "$bin" detect --quiet --detector tiny-mtcnn "$hit" -o /dev/null
  grep -q "unknown detector 'tiny-mtcnn' (auto, mtcnn, tiny, tiny+mtcnn)" "$tmp/err" ||
    fail "--detector tiny-mtcnn: $(head -c 400 "$tmp/err")"
  # FaceNet's crop needs MTCNN's own box and landmarks: refused with the reason
  expect_code 2 "$bin" embed --quiet --detector tiny+mtcnn --align mtcnn "$hit" -o "$tmp/x.npy"
  grep -q "tiny+mtcnn does not give MTCNN's own boxes and landmarks" "$tmp/err" ||
    fail "--align mtcnn with tiny+mtcnn: $(head -c 400 "$tmp/err")"
else
  echo "weights/tinyface.frw missing: --detector tiny+mtcnn not checked"
fi

[ "$failures" = 0 ] && echo "test_detect_cli: all passed" || echo "test_detect_cli: $failures failed"
exit $((failures > 0))
