#!/usr/bin/env bash
# test_cli_db.sh: a threshold tuned for a database is stored in it (issue 9, item 9): `facerec
# db set --threshold D` records it, `db list` shows it, verify and identify use it unless
# --threshold overrides, `--threshold default` removes it; a database made before (no stored
# threshold) keeps the model's default; a value written into the file by hand is refused.
set -uo pipefail
bin="${FACEREC_BIN:?}"; data="${FACEREC_DATA:?}"; python="${FACEREC_PYTHON:-python3}"
[ -f "${FACEREC_WEIGHTS:?}/dlib.frw" ] || { echo "no dlib weights (weights/fetch.sh)"; exit 77; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# expect CODE PATTERN COMMAND...: exit code CODE and stdout+stderr matching PATTERN
expect() {
  local want="$1" pattern="$2"; shift 2
  timeout 120 "$@" >"$tmp/out" 2>&1; local got=$?
  if [ "$got" != "$want" ] || ! grep -Eq -- "$pattern" "$tmp/out"; then
    fail "exit $got (want $want, /$pattern/): $* -- $(head -c 500 "$tmp/out")"
  else
    echo "ok: $*"
  fi
}

# two photos of Aaron Peirsol: their distance (about 0.23) is under the model's 0.428
lfw="$data/lfw_devtrain/images"
db="$tmp/people.db"
"$bin" enroll --quiet --db "$db" --name peirsol "$lfw/Aaron_Peirsol/Aaron_Peirsol_0002.jpg" || fail "enroll"
probe="$lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg"
cp "$db" "$tmp/before.db" # as every facerec before this one made it: no threshold stored,
# no weights file recorded
"$python" -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"DELETE FROM meta WHERE key IN ('weights', 'weights_sha256')\"); c.commit()" "$tmp/before.db"

expect 0 "threshold 0.428" "$bin" verify --db "$db" --name peirsol "$probe"
expect 0 "use the threshold 0.2 unless --threshold" "$bin" db set --db "$db" --threshold 0.2
expect 0 "1 person, 1 embedding, model dlib/.*, threshold 0.2 \(db set\)" "$bin" db list --db "$db"
# the stored threshold in force: the same photo is refused, by verify and by identify
expect 1 "It's not peirsol.*>= threshold 0.200" "$bin" verify --db "$db" --name peirsol "$probe"
expect 1 "Not in the database \(nearest: peirsol, 0\.[0-9]+ >= 0.200\)" \
  "$bin" identify --db "$db" "$probe"
# --threshold overrides it
expect 0 "welcome in.*< threshold 0.428" \
  "$bin" verify --db "$db" --name peirsol --threshold 0.428 "$probe"
# identify's shards must agree (checked before any image is read): the old database has none
expect 2 "people.db stores the threshold 0.2 and .*before.db none: the shards of one gallery need one" \
  "$bin" identify --db "$db" --db "$tmp/before.db" "$probe"
# bad values refused, nothing changed
expect 2 "--threshold 5: give a distance in \(0, 4\], or default" \
  "$bin" db set --db "$db" --threshold 5
expect 2 "--threshold: only db set stores one" "$bin" db list --db "$db" --threshold 0.3
expect 2 "give list, remove NAME..., rename OLD NEW, set --threshold D" "$bin" db set --db "$db"
expect 0 "threshold 0.2 \(db set\)" "$bin" db list --db "$db"
# removed: the model's default again
expect 0 "no stored threshold; the model's default applies" \
  "$bin" db set --db "$db" --threshold default
"$bin" db list --db "$db" | grep -q "(db set)" && fail "db set --threshold default left it"
# a value written into the file by hand is refused, naming the file
"$python" -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT OR REPLACE INTO meta VALUES('threshold', 'nan')\"); c.commit()" "$db"
expect 4 "people.db: the stored threshold 'nan' is not a distance in \(0, 4\]" \
  "$bin" verify --db "$db" --name peirsol "$probe"
# a database made before opens as it was, and takes a threshold
expect 0 "1 person, 1 embedding, model dlib/[^,]*$" "$bin" db list --db "$tmp/before.db"
expect 0 "use the threshold 0.3 " "$bin" db set --db "$tmp/before.db" --threshold 0.3

# the database knows its model (issue 9, item 9): without --model, verify, identify, enroll and
# db split run the model it records, here the pixels baseline, not the built-in dlib
pix="$tmp/pixels.db"
"$bin" enroll --quiet --model pixels --db "$pix" --name peirsol \
  "$lfw/Aaron_Peirsol/Aaron_Peirsol_0002.jpg" || fail "enroll --model pixels"
expect 0 "welcome in" "$bin" verify --db "$pix" --name peirsol --threshold 4 "$probe"
expect 0 "peirsol" "$bin" identify --db "$pix" --threshold 4 "$probe"
"$bin" enroll --quiet --db "$pix" --name other "$lfw/Aaron_Peirsol/Aaron_Peirsol_0003.jpg" ||
  fail "enroll into a pixels database without --model"
expect 0 "2 people, 2 embeddings, model pixels/" "$bin" db list --db "$pix"
expect 0 "2 people of .* in 2 databases" "$bin" db split --db "$pix" 2 "$tmp/pixshard"
expect 0 "1 person, 1 embedding, model pixels/" "$bin" db list --db "$tmp/pixshard-0.db"
# another model named is still refused
expect 4 "holds embeddings of pixels .*this run uses dlib" \
  "$bin" verify --db "$pix" --name peirsol --model dlib "$probe"
# a recorded model whose weights are not here: one line naming it and how to pass them
cp "$tmp/before.db" "$tmp/lost.db"
"$python" -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); z='0'*64
c.execute(\"UPDATE meta SET value=? WHERE key='source_sha256'\", (z,))
c.execute(\"UPDATE meta SET value=substr(value, 1, instr(value, '/128/') + 4) || ? WHERE key='model'\", (z,))
c.commit()" "$tmp/lost.db"
expect 4 "lost.db holds embeddings of dlib \(preprocess faceapi, weights sha256 000000000000.*\), whose weights are not .*dlib.frw \(pass its file: --model dlib --weights FILE\)" \
  "$bin" verify --db "$tmp/lost.db" --name peirsol "$probe"
expect 4 "whose weights are not .*--model dlib --weights FILE" \
  "$bin" identify --db "$tmp/lost.db" "$probe"
expect 4 "lost.db holds embeddings of dlib .*this run uses dlib" \
  "$bin" enroll --db "$tmp/lost.db" --model dlib --name x "$probe"

# `enroll --name obama people/` where people/ holds one folder per person (issue 9, item 8):
# every one of them would become obama; refused naming --dir, nothing created, unless --force
mkdir -p "$tmp/people/peirsol" "$tmp/people/sorkin" "$tmp/years/2019"
cp "$lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg" "$tmp/people/peirsol/"
cp "$lfw/Aaron_Peirsol/Aaron_Peirsol_0002.jpg" "$tmp/people/sorkin/"
cp "$lfw/Aaron_Peirsol/Aaron_Peirsol_0003.jpg" "$tmp/years/2019/"
expect 2 "people holds 2 folders of images \((peirsol|sorkin), \.\.\.\), the layout of one person per folder: did you mean --dir .*/people\? \(--force enrols them all as obama\)" \
  "$bin" enroll --db "$tmp/folders.db" --name obama "$tmp/people"
[ -e "$tmp/folders.db" ] && fail "a refused enroll --name left $tmp/folders.db"
# one folder of images (a person's years) is no people folder
expect 0 "1 image of 1 person added" "$bin" enroll --db "$tmp/folders.db" --name obama "$tmp/years"
expect 0 "2 images of 1 person added" \
  "$bin" enroll --db "$tmp/folders.db" --name obama --force "$tmp/people"
expect 0 "1 person, 3 embeddings" "$bin" db list --db "$tmp/folders.db"

# enroll --keep-going (issue 9, item 8): a batch with an unreadable image enrols the others,
# names what it skipped and exits 3; without it, nothing is written (all or nothing)
mkdir -p "$tmp/batch"
cp "$lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg" "$lfw/Aaron_Peirsol/Aaron_Peirsol_0002.jpg" "$tmp/batch/"
head -c 300 "$lfw/Aaron_Peirsol/Aaron_Peirsol_0003.jpg" >"$tmp/batch/broken.jpg"
expect 3 "nothing enrolled: 1 of 3 images could not be read \(--keep-going enrols the others\)" \
  "$bin" enroll --db "$tmp/batch.db" --name peirsol "$tmp/batch"
[ -e "$tmp/batch.db" ] && fail "a refused batch left $tmp/batch.db"
expect 3 "  skipped .*batch/broken.jpg: bad JPEG" \
  "$bin" enroll --db "$tmp/batch.db" --name peirsol --keep-going "$tmp/batch"
grep -q -- "--keep-going: skipped 1 of 3 images:" "$tmp/out" || fail "keep-going: no summary"
grep -q "2 images of 1 person added" "$tmp/out" || fail "keep-going: no count"
expect 0 "1 person, 2 embeddings" "$bin" db list --db "$tmp/batch.db"
expect 3 "nothing enrolled: not one of the 1 image could be enrolled" \
  "$bin" enroll --db "$tmp/batch.db" --name peirsol --keep-going "$tmp/batch/broken.jpg"
expect 0 "1 person, 2 embeddings" "$bin" db list --db "$tmp/batch.db"

# the database records the weights file it was enrolled with and its SHA-256 (issue 9, item
# 9): without --model, identify uses that very file, even when the weights directory has no
# dlib.frw; a file that changed or went missing is said in one line, and the weights
# directory's file used when it holds the same model, else refused naming the recorded file
mkdir -p "$tmp/mine" "$tmp/helpers"
cp "$FACEREC_WEIGHTS/dlib.frw" "$tmp/mine/dlib-copy.frw"
for helper in mtcnn landmark68 tinyface; do
  [ -f "$FACEREC_WEIGHTS/$helper.frw" ] && ln -s "$FACEREC_WEIGHTS/$helper.frw" "$tmp/helpers/"
done
wdb="$tmp/weights.db"
"$bin" enroll --quiet --db "$wdb" --weights "$tmp/mine/dlib-copy.frw" --name peirsol \
  "$lfw/Aaron_Peirsol/Aaron_Peirsol_0002.jpg" || fail "enroll --weights"
sha="$(sha256sum "$tmp/mine/dlib-copy.frw" | cut -c1-12)"
expect 0 "weights $tmp/mine/dlib-copy.frw \(sha256 $sha\.\.\.\)" "$bin" db list --db "$wdb"
expect 0 "it's peirsol" env FACEREC_WEIGHTS_DIR="$tmp/helpers" "$bin" identify --db "$wdb" "$probe"
printf 'x' >>"$tmp/mine/dlib-copy.frw"
expect 4 "weights.db holds embeddings of dlib .*: its recorded weights file .*dlib-copy.frw has changed \(sha256 [0-9a-f]{12}\.\.\., recorded $sha\.\.\.\), and the weights directory does not hold that model \(pass its file: --model dlib --weights FILE\)" \
  env FACEREC_WEIGHTS_DIR="$tmp/helpers" "$bin" identify --db "$wdb" "$probe"
expect 0 "weights.db: its recorded weights file .*dlib-copy.frw has changed .*; using .*dlib.frw, which holds the same model" \
  "$bin" identify --db "$wdb" "$probe"
grep -q "it's peirsol" "$tmp/out" || fail "identify with the weights directory's file: $(cat "$tmp/out")"
rm "$tmp/mine/dlib-copy.frw"
expect 4 "its recorded weights file .*dlib-copy.frw is missing, and the weights directory does not hold that model" \
  env FACEREC_WEIGHTS_DIR="$tmp/helpers" "$bin" identify --db "$wdb" "$probe"
expect 0 "its recorded weights file .*dlib-copy.frw is missing; using .*dlib.frw" \
  "$bin" verify --db "$wdb" --name peirsol "$probe"
# ... and that file is read once: the model loaded to see that it holds the database's model is
# the one the command runs (before: loaded twice). Counted with strace where it can trace.
if command -v strace >/dev/null && strace -f -o /dev/null true 2>/dev/null; then
  for cmd in "verify --name peirsol" identify; do
    # LeakSanitizer cannot run under ptrace: the sanitizer build traces without it
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
      strace -f -e trace=open,openat -o "$tmp/trace" "$bin" $cmd --db "$wdb" "$probe" >"$tmp/out" 2>&1 ||
      fail "$cmd under strace: $(cat "$tmp/out")"
    opens="$(grep '/dlib\.frw"' "$tmp/trace" | grep -vc ENOENT)"
    [ "$opens" = 1 ] || fail "$cmd opened dlib.frw $opens times, want 1: $(grep 'dlib\.frw' "$tmp/trace")"
  done
else
  echo "skipped: counting the weights file's opens needs strace (ptrace)"
fi
# --model/--weights given: the recorded file is not looked at
expect 0 "welcome" "$bin" verify --db "$wdb" --name peirsol --model dlib "$probe"
grep -q "recorded weights" "$tmp/out" && fail "--model given, yet the recorded file was checked"
# a recorded value someone wrote by hand is refused, naming the file
"$python" -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE meta SET value = 'zz' WHERE key = 'weights_sha256'\"); c.commit()" "$wdb"
expect 4 "weights.db: the recorded weights file is not a path and a SHA-256" \
  "$bin" identify --db "$wdb" "$probe"
[ "$failures" = 0 ] && echo "all passed" || { echo "$failures failure(s)"; exit 1; }
