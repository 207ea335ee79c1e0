#!/usr/bin/env bash
# test_cli_embed.sh: `facerec embed`, `info` and `convert` as a user meets them: outputs,
# exit codes, messages naming bad files, nothing half-written.
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
npy_info() { "$py" -c "import numpy as np,sys; a=np.load(sys.argv[1]); n=np.linalg.norm(a,axis=1); print(a.shape[0], a.shape[1], '%.4f %.4f' % (n.min(), n.max()))" "$1"; }

# a directory of good images: one row each, unit norm, paths beside, in sorted order
expect_code 0 "$bin" embed --quiet "$data/dlib_johns" -o "$tmp/johns.npy"
read -r rows dim nmin nmax < <(npy_info "$tmp/johns.npy")
[ "$rows" = 55 ] && [ "$dim" = 128 ] || fail "johns.npy is $rows x $dim, want 55 x 128"
"$py" -c "import sys; lo,hi=map(float,sys.argv[1:]); sys.exit(not (abs(lo-1)<1e-5 and abs(hi-1)<1e-5))" "$nmin" "$nmax" \
  || fail "embeddings not L2-normalized ($nmin..$nmax)"
[ "$(wc -l < "$tmp/johns.paths")" = 55 ] || fail "johns.paths does not list 55 paths"
sort -c "$tmp/johns.paths" || fail "paths are not in sorted order"
[ -z "$(ls "$tmp" | grep '\.tmp\.')" ] || fail "temporary files left behind"

# -o - cannot take the row order: refused, and no "-.paths" beside
(cd "$tmp" && "$bin" embed --quiet "$data/dlib_johns/John_Simm" -o - >"$tmp/out" 2>"$tmp/err"; echo $? > "$tmp/code")
[ "$(cat "$tmp/code")" = 2 ] && grep -q -- "-o -" "$tmp/err" || fail "embed -o -: exit $(cat "$tmp/code"): $(cat "$tmp/err")"
[ ! -e "$tmp/-.paths" ] && [ ! -s "$tmp/out" ] || fail "embed -o - wrote -.paths or to stdout"

# --raw keeps the network's own scale (dlib descriptors have norms near 1.4)
expect_code 0 "$bin" embed --quiet --raw "$data/dlib_johns/John_Simm" -o "$tmp/raw.npy"
read -r rows dim nmin nmax < <(npy_info "$tmp/raw.npy")
"$py" -c "import sys; sys.exit(not float(sys.argv[1]) > 1.2)" "$nmin" || fail "--raw outputs look normalized ($nmin)"

# same image, same embedding, whatever the batch size and thread count
expect_code 0 "$bin" embed --quiet --batch 1 --threads 1 "$data/dlib_johns" -o "$tmp/b1.npy"
"$py" -c "import numpy as np,sys; a,b=np.load(sys.argv[1]),np.load(sys.argv[2]); sys.exit(not np.abs(a-b).max()<1e-5)" \
  "$tmp/johns.npy" "$tmp/b1.npy" || fail "batch 1 / 1 thread gives other embeddings than the default"

# bad inputs among good ones: each named, the rest embedded, exit 3
mkdir -p "$tmp/mixed"
cp "$data/dlib_johns/John_Simm/"*.jpg "$tmp/mixed/"
: > "$tmp/mixed/empty.jpg"
echo "not an image" > "$tmp/mixed/text.jpg"
head -c 2000 "$data/lfw_devtrain/images/Aaron_Peirsol/Aaron_Peirsol_0001.jpg" > "$tmp/mixed/truncated.jpg"
expect_code 3 "$bin" embed --quiet "$tmp/mixed" -o "$tmp/mixed.npy"
for f in empty.jpg text.jpg truncated.jpg; do
  grep -q "$f" "$tmp/err" || fail "stderr does not name $f"
done
[ "$(grep -c . "$tmp/err")" = 3 ] || fail "want one line per bad file, got: $(cat "$tmp/err")"
read -r rows dim _ _ < <(npy_info "$tmp/mixed.npy")
[ "$rows" = 11 ] || fail "mixed.npy has $rows rows, want the 11 good images"
grep -q "empty.jpg" "$tmp/mixed.paths" && fail "a failed image is listed in the paths"

# a missing argument among good ones: named, exit 3; nothing readable at all: exit 4, no output
expect_code 3 "$bin" embed --quiet "$data/dlib_johns/John_Simm" "$tmp/no-such-dir" -o "$tmp/m2.npy"
grep -q "no-such-dir" "$tmp/err" || fail "missing path not named"
expect_code 4 "$bin" embed --quiet "$tmp/mixed/empty.jpg" -o "$tmp/none.npy"
[ -e "$tmp/none.npy" ] && fail "an output was written with no embeddings"

# an unwritable output: fatal, named, no temporary left
expect_code 4 "$bin" embed --quiet "$data/dlib_johns/John_Simm" -o "$tmp/no/such/dir/x.npy"
grep -q "no/such/dir" "$tmp/err" || fail "unwritable output not named"

# usage errors: exit 2 with a hint; --help: exit 0
expect_code 2 "$bin" embed "$data/dlib_johns"
grep -q -- "-o" "$tmp/err" || fail "missing -o not explained"
expect_code 2 "$bin" embed --batch 0 "$data/dlib_johns" -o "$tmp/x.npy"
expect_code 2 "$bin" embed --no-such-option
expect_code 2 "$bin" frobnicate
expect_code 0 "$bin" embed --help
grep -q "usage: facerec embed" "$tmp/out" || fail "embed --help prints no usage"
expect_code 0 "$bin" --help

# the irv1 model without weights: a clear way forward
FACEREC_WEIGHTS_DIR="$tmp/empty-weights" expect_code 4 "$bin" embed --model irv1 "$data/dlib_johns/John_Simm" -o "$tmp/x.npy"
grep -q "irv1" "$tmp/err" || fail "missing irv1 weights not explained: $(cat "$tmp/err")"
# alignment whose detector or landmark net is missing: the cause, once, inside its context
mkdir -p "$tmp/only-dlib" "$tmp/no-landmarks" "$tmp/no-tiny"
cp "$FACEREC_WEIGHTS/dlib.frw" "$tmp/only-dlib/"
cp "$FACEREC_WEIGHTS/dlib.frw" "$FACEREC_SOURCE_DIR/weights/mtcnn.frw" "$FACEREC_WEIGHTS/tinyface.frw" \
  "$tmp/no-landmarks/"
cp "$FACEREC_WEIGHTS/dlib.frw" "$FACEREC_SOURCE_DIR/weights/mtcnn.frw" "$FACEREC_WEIGHTS/landmark68.frw" \
  "$tmp/no-tiny/"
FACEREC_WEIGHTS_DIR="$tmp/only-dlib" expect_code 4 "$bin" embed "$data/dlib_johns/John_Simm" -o "$tmp/x.npy"
grep -q "needs the MTCNN detector: .*mtcnn.frw: no weights" "$tmp/err" ||
  fail "missing detector not explained: $(cat "$tmp/err")"
# dlib's default detector (auto: tiny+mtcnn) without tinyface.frw: named, with the way around
FACEREC_WEIGHTS_DIR="$tmp/no-tiny" expect_code 4 "$bin" embed "$data/dlib_johns/John_Simm" -o "$tmp/x.npy"
grep -q "needs the tiny face detector (--detector tiny+mtcnn; weights/fetch.sh makes it, or --detector mtcnn): .*tinyface.frw: no weights" "$tmp/err" ||
  fail "missing tiny detector not explained: $(cat "$tmp/err")"
FACEREC_WEIGHTS_DIR="$tmp/no-tiny" expect_code 0 "$bin" embed --quiet --detector mtcnn "$data/dlib_johns/John_Simm" -o "$tmp/mtcnn.npy"
FACEREC_WEIGHTS_DIR="$tmp/no-landmarks" expect_code 4 "$bin" embed "$data/dlib_johns/John_Simm" -o "$tmp/x.npy"
[ "$(grep -o "landmark network" "$tmp/err" | wc -l)" = 1 ] && grep -q "landmark68.frw: no weights" "$tmp/err" ||
  fail "missing landmark net not explained once: $(cat "$tmp/err")"
# a weights file of another model, and a file that is not one
expect_code 4 "$bin" embed --model irv1 --weights "$FACEREC_WEIGHTS/dlib.frw" "$data/dlib_johns/John_Simm" -o "$tmp/x.npy"
grep -q "dlib model, not irv1" "$tmp/err" || fail "wrong-model weights not explained: $(cat "$tmp/err")"
expect_code 4 "$bin" embed --weights "$data/happyhouse/database/younes.jpg" "$data/dlib_johns/John_Simm" -o "$tmp/x.npy"
grep -q "not a facerec weights file" "$tmp/err" || fail "non-weights file not explained: $(cat "$tmp/err")"
head -c 1000 "$FACEREC_WEIGHTS/dlib.frw" > "$tmp/cut.frw"
expect_code 4 "$bin" embed --weights "$tmp/cut.frw" "$data/dlib_johns/John_Simm" -o "$tmp/x.npy"
grep -q "cut.frw" "$tmp/err" || fail "truncated weights not named: $(cat "$tmp/err")"

# damaged weights never run: a bit flipped in a tensor (the file's checksum), a NaN or an
# infinity written with the checksum made to match (the values check); each is refused
# naming the file, and an existing database is left as it was (such weights once enrolled)
expect_code 0 "$bin" convert --from frw "$FACEREC_WEIGHTS/dlib.frw" -o "$tmp/dlib2.frw"
"$bin" info --weights "$tmp/dlib2.frw" | grep -q "file format 2, checksum verified" ||
  fail "info does not show a verified checksum: $("$bin" info --weights "$tmp/dlib2.frw")"
damage() { # in.frw out.frw flip|nan|inf: a tensor value changed (the checksum resealed for nan/inf)
  "$py" - "$@" <<'EOF'
import hashlib, struct, sys
src, dst, how = sys.argv[1:]
b = bytearray(open(src, "rb").read())
at = struct.unpack_from("<Q", b, 16)[0] + 4096  # inside the first tensor's data
if how == "flip":
    b[at] ^= 0x04
else:
    struct.pack_into("<f", b, at, float("nan") if how == "nan" else float("-inf"))
    b[40:72] = bytes(32)
    b[40:72] = hashlib.sha256(b).digest()
open(dst, "wb").write(b)
EOF
}
"$bin" enroll --quiet --db "$tmp/w.db" --name simm "$data/dlib_johns/John_Simm/000288_00470387.jpg"
before=$(sha256sum < "$tmp/w.db")
for how in flip nan inf; do
  damage "$tmp/dlib2.frw" "$tmp/$how.frw" "$how"
  expect_code 4 "$bin" embed --quiet --weights "$tmp/$how.frw" "$data/dlib_johns/John_Simm" -o "$tmp/x.npy"
  case $how in flip) want="checksum mismatch";; nan) want="non-finite value (NaN";; inf) want="non-finite value (infinity";; esac
  grep -q "$how.frw: .*$want" "$tmp/err" || fail "$how weights: $(cat "$tmp/err")"
  expect_code 4 "$bin" enroll --quiet --db "$tmp/w.db" --weights "$tmp/$how.frw" --name simm "$data/dlib_johns/John_Simm"
  [ "$(sha256sum < "$tmp/w.db")" = "$before" ] || fail "$how weights changed the database"
done
[ ! -e "$tmp/x.npy" ] || fail "damaged weights wrote embeddings"

# directory walks: links to an ancestor and a second link to a folder end, each image once;
# an empty folder is no error
mkdir -p "$tmp/walk/sub" "$tmp/walk/empty"
cp "$data/happyhouse/database/dan.jpg" "$tmp/walk/a.jpg"
cp "$data/happyhouse/database/kian.jpg" "$tmp/walk/sub/b.jpg"
ln -s . "$tmp/walk/x"; ln -s . "$tmp/walk/y"; ln -s sub "$tmp/walk/z"
expect_code 0 timeout 60 "$bin" embed --quiet --model pixels --align none "$tmp/walk" -o "$tmp/walk.npy"
[ "$(cat "$tmp/walk.paths" 2>/dev/null | tr '\n' ' ')" = "$tmp/walk/a.jpg $tmp/walk/sub/b.jpg " ] ||
  fail "directory walk with links: $(cat "$tmp/walk.paths" 2>/dev/null | head -5)"

# a conversion whose result does not build the network leaves the file it would replace
printf '[{"paths":["one.bin"],"weights":[{"name":"x","shape":[1],"dtype":"float32"}]}]' >"$tmp/m.json"
printf '\000\000\200\077' >"$tmp/one.bin"
cp "$FACEREC_WEIGHTS/dlib.frw" "$tmp/keep.frw"
expect_code 4 "$bin" convert --from tfjs "$tmp/m.json" -o "$tmp/keep.frw"
cmp -s "$FACEREC_WEIGHTS/dlib.frw" "$tmp/keep.frw" || fail "a failed convert changed the existing output"
[ -z "$(ls "$tmp" | grep checking)" ] || fail "a failed convert left its staged file"
printf '[{"paths":["one.bin"],"weights":[{"name":"x","shape":[1.5],"dtype":"float32"}]}]' >"$tmp/m.json"
expect_code 4 "$bin" convert --from tfjs "$tmp/m.json" -o "$tmp/frac.frw"
grep -q "bad shape" "$tmp/err" || fail "a fractional shape not refused: $(cat "$tmp/err")"

# info: JSON that parses and names the CPU and the dlib model
expect_code 0 "$bin" info --json
"$py" -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['models'][0]['status']=='ok'; assert d['cpu']['threads']>=1" "$tmp/out" \
  || fail "info --json is not what it should be"
expect_code 0 "$bin" info --graph --model dlib
grep -q "^conv .*conv32_down" "$tmp/out" || fail "info --graph does not list the network"

# convert: a manifest that is not one
echo '{"a": 1}' > "$tmp/bad.json"
expect_code 4 "$bin" convert --from tfjs "$tmp/bad.json" -o "$tmp/bad.frw"
grep -q "bad.json" "$tmp/err" || fail "convert does not name the bad manifest"
[ -e "$tmp/bad.frw" ] && fail "convert left an output for a bad manifest"
expect_code 4 "$bin" convert --from keras-h5 "$data/happyhouse/database/younes.jpg" -o "$tmp/bad.frw"
grep -q "not an HDF5 file" "$tmp/err" || fail "convert --from keras-h5 of a JPEG: $(cat "$tmp/err")"

# GPU decoding (FACEREC_DECODE=nvjpeg): where it cannot be had (no GPU or no nvJPEG here),
# one line saying why and the fatal exit code, nothing written; cpu is the default; another
# value is a usage error. (On a GPU the device check runs it.)
if [ "$("$bin" info 2>/dev/null | grep -c 'no usable GPU')" != 0 ]; then
  FACEREC_DECODE=nvjpeg expect_code 4 "$bin" embed --quiet "$data/dlib_johns/John_Simm" -o "$tmp/gpu.npy"
  grep -q "GPU JPEG decoding" "$tmp/err" && [ "$(wc -l < "$tmp/err")" = 1 ] ||
    fail "FACEREC_DECODE=nvjpeg without a GPU: $(cat "$tmp/err")"
  [ -e "$tmp/gpu.npy" ] && fail "FACEREC_DECODE=nvjpeg without a GPU left an output"
fi
FACEREC_DECODE=cpu expect_code 0 "$bin" embed --quiet "$data/dlib_johns/John_Simm" -o "$tmp/cpu.npy"
FACEREC_DECODE=turbo expect_code 2 "$bin" embed --quiet "$data/dlib_johns/John_Simm" -o "$tmp/x.npy"
grep -q "FACEREC_DECODE=turbo: expected cpu or nvjpeg" "$tmp/err" || fail "bad FACEREC_DECODE: $(cat "$tmp/err")"


# a row for every input (issue 9, item 6): OUT.inputs.csv names the image without a face and
# the unreadable one, in input order, with their rows in the .npy; OUT.model names the model,
# and identify refuses to match the rows against a database of another model
src="${FACEREC_SOURCE_DIR:?}"
mkdir -p "$tmp/rowsdir"
cp "$data/lfw_devtrain/images/Aaron_Peirsol/Aaron_Peirsol_0001.jpg" "$tmp/rowsdir/a_face.jpg"
cp "$src/tests/data/images/gray.png" "$tmp/rowsdir/b_blank.png"
cp "$src/tests/data/images/truncated.jpg" "$tmp/rowsdir/c_broken.jpg"
expect_code 3 "$bin" embed --quiet "$tmp/rowsdir" -o "$tmp/rowsdir.npy"
"$py" - "$tmp/rowsdir.inputs.csv" "$tmp/rowsdir" <<'PY' || fail "rowsdir.inputs.csv: $(cat "$tmp/rowsdir.inputs.csv")"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
folder = sys.argv[2]
assert [r["path"] for r in rows] == [folder + "/a_face.jpg", folder + "/b_blank.png",
                                     folder + "/c_broken.jpg"], rows
assert [r["status"] for r in rows] == ["ok", "no_face", "unreadable"], rows
assert [r["input"] for r in rows] == ["0", "1", "2"], rows
assert rows[0]["rows"] == "1" and rows[0]["first_row"] == "0" and rows[0]["faces"] == "1", rows
assert rows[1]["rows"] == "0" and rows[1]["first_row"] == "" and rows[1]["error"], rows
assert rows[2]["rows"] == "0" and "c_broken.jpg" in rows[2]["error"], rows
PY
grep -Eq "^dlib/faceapi/128/[0-9a-f]{64}$" "$tmp/rowsdir.model" || fail "rowsdir.model: $(cat "$tmp/rowsdir.model")"
(cd "$tmp" && sha256sum -c --quiet rowsdir.sha256) || fail "the .inputs.csv and .model are not in rowsdir.sha256"
"$bin" enroll --quiet --db "$tmp/pixels.db" --model pixels --name peirsol \
  "$data/lfw_devtrain/images/Aaron_Peirsol/Aaron_Peirsol_0002.jpg" || fail "enroll --model pixels"
"$bin" embed --quiet --model pixels "$tmp/rowsdir/a_face.jpg" -o "$tmp/pix.npy" || fail "embed --model pixels"
"$bin" enroll --quiet --db "$tmp/dlib.db" --name peirsol \
  "$data/lfw_devtrain/images/Aaron_Peirsol/Aaron_Peirsol_0002.jpg" || fail "enroll"
expect_code 4 "$bin" identify --db "$tmp/dlib.db" --model dlib "$tmp/pix.npy"
grep -q "pix.npy holds embeddings of pixels/.*; this run's model is dlib/" "$tmp/err" ||
  fail "identify on another model's embed output: $(cat "$tmp/err")"
expect_code 0 "$bin" identify --db "$tmp/dlib.db" "$tmp/rowsdir.npy"
grep -q "a_face.jpg,peirsol,0\.[0-9]*,ok," "$tmp/out" || fail "identify on embed's output: $(cat "$tmp/out")"
# embed --shard parts merged: the .inputs.csv (input indexes and first rows shifted) and
# .model are one run's, byte for byte, so identify checks the merged rows' model too
cp -r "$tmp/rowsdir" "$tmp/rows4"
cp "$data/lfw_devtrain/images/Aaron_Peirsol/Aaron_Peirsol_0003.jpg" "$tmp/rows4/d_face.jpg"
px=(--model pixels --batch 1) # units of one image: shard 0 of 2 holds a, b; shard 1 c, d
expect_code 3 "$bin" embed --quiet "${px[@]}" "$tmp/rows4" -o "$tmp/p4.npy"
for i in 0 1; do
  expect_code 3 "$bin" embed --quiet "${px[@]}" --shard $i/2 "$tmp/rows4" -o "$tmp/p4s-$i.npy"
done
expect_code 3 "$bin" merge --quiet "$tmp/p4s-1.npy" "$tmp/p4s-0.npy" -o "$tmp/p4m.npy"
for f in npy paths inputs.csv model; do
  cmp -s "$tmp/p4m.$f" "$tmp/p4.$f" || fail "merged p4m.$f is not one run's: $(head -c 400 "$tmp/p4m.$f" 2>&1)"
done
grep -q "^3,.*d_face.jpg,ok,1,1,1,$" "$tmp/p4m.inputs.csv" || fail "merged inputs.csv: $(cat "$tmp/p4m.inputs.csv")"
(cd "$tmp" && sha256sum -c --quiet p4m.sha256) || fail "p4m.sha256 does not list the merged set"
expect_code 4 "$bin" identify --db "$tmp/dlib.db" --model dlib "$tmp/p4m.npy"
grep -q "p4m.npy holds embeddings of pixels/.*; this run's model is dlib/" "$tmp/err" ||
  fail "identify on a merged output of another model: $(cat "$tmp/err")"
[ "$failures" = 0 ] && echo "test_cli_embed: all checks passed" || { echo "test_cli_embed: $failures failed"; exit 1; }
