#!/usr/bin/env bash
# test_cli_faces.sh: group photos in the matching commands (issue 9, items 4 and 5). An image
# with several faces is named on stderr with the face used; --face INDEX picks a face as
# `facerec detect` numbers them; identify takes embed --all-faces output as its probes (the rows
# identify --all-faces writes); enroll refuses a group photo (nothing enrolled, exit 2)
# unless --face says which face is the person's.
set -uo pipefail
bin="${FACEREC_BIN:?}"; data="${FACEREC_DATA:?}"; python="${FACEREC_PYTHON:-python3}"
[ -f "${FACEREC_WEIGHTS:?}/dlib.frw" ] || { echo "no dlib weights (weights/fetch.sh)"; exit 77; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# expect CODE PATTERN COMMAND...: exit code CODE and stderr matching PATTERN (extended regex)
expect() {
  local want="$1" pattern="$2"; shift 2
  timeout 120 "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
  if [ "$got" != "$want" ] || { [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$tmp/err"; }; then
    fail "exit $got (want $want, stderr /$pattern/): $* -- $(head -c 500 "$tmp/err")"
  else
    echo "ok: $*"
  fi
}
rows() { "$python" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM embeddings').fetchone()[0])" "$1"; }

# a group photo: Aaron Peirsol at full size on the left, Aaron Sorkin smaller on the right
# (the detector lists the smaller face first: best score; the largest face is Peirsol's); the
# database holds another photo of each
lfw="$data/lfw_devtrain/images"
peirsol="$lfw/Aaron_Peirsol/Aaron_Peirsol_0002.jpg"
sorkin="$lfw/Aaron_Sorkin/Aaron_Sorkin_0002.jpg"
"$python" - "$lfw" "$tmp/group.jpg" <<'EOF' || { echo "no PIL"; exit 77; }
import os, sys
from PIL import Image
lfw, out = sys.argv[1:]
group = Image.new("RGB", (500, 250))
group.paste(Image.open(os.path.join(lfw, "Aaron_Peirsol/Aaron_Peirsol_0001.jpg")), (0, 0))
group.paste(Image.open(os.path.join(lfw, "Aaron_Sorkin/Aaron_Sorkin_0001.jpg")).resize((200, 200)),
            (275, 25))
group.save(out, quality=95)
EOF
"$bin" detect --quiet "$tmp/group.jpg" -o "$tmp/faces.csv" || fail "detect"
[ "$(grep -c group.jpg "$tmp/faces.csv")" = 2 ] || fail "the group photo should have 2 faces: $(cat "$tmp/faces.csv")"
# detect marks the main face, the one the other commands embed: the largest (Peirsol's, face 1)
"$python" - "$tmp/faces.csv" <<'EOF' || fail "detect's main column: $(cat "$tmp/faces.csv")"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [(r["face"], r["main"]) for r in rows] == [("0", "0"), ("1", "1")], rows
EOF
"$bin" detect --quiet --json "$tmp/group.jpg" >"$tmp/faces.jsonl" || fail "detect --json"
"$python" -c "import json,sys; f=json.loads(open(sys.argv[1]).readline())['faces']; assert [x['main'] for x in f] == [False, True], f" \
  "$tmp/faces.jsonl" || fail "detect --json main: $(cat "$tmp/faces.jsonl")"
"$bin" detect "$tmp/group.jpg" -o "$tmp/one.csv" 2>"$tmp/err" || fail "detect one image"
grep -q "detect: 1 image, 2 faces," "$tmp/err" || fail "detect summary wording: $(cat "$tmp/err")"
db="$tmp/people.db"
"$bin" enroll --quiet --db "$db" --name peirsol "$peirsol" && "$bin" enroll --quiet --db "$db" --name sorkin "$sorkin" \
  || fail "enroll the two people"

# ---- the notice, and the face chosen ---------------------------------------------------------
expect 0 "2 faces in .*group.jpg; used the largest, face 1 \(--face chooses another\)" \
  "$bin" identify --db "$db" "$tmp/group.jpg"
grep -q "it's peirsol" "$tmp/out" || fail "the largest face should be peirsol: $(cat "$tmp/out")"
expect 0 "2 faces in .*group.jpg; used face 0" "$bin" identify --db "$db" --face 0 "$tmp/group.jpg"
grep -q "it's sorkin" "$tmp/out" || fail "--face 0 should be sorkin: $(cat "$tmp/out")"
expect 3 "group.jpg: 2 face\(s\) found, no face 5 \(--face\)" \
  "$bin" identify --db "$db" --face 5 "$tmp/group.jpg"
expect 2 "--face: unknown face rule 'seven'.*or a face's index" \
  "$bin" identify --db "$db" --face seven "$tmp/group.jpg"
expect 2 "--face 0: detect lists every face" "$bin" detect --face 0 "$tmp/group.jpg"
# a batch: one line per group photo, counted in the summary; one image says "1 image"
expect 0 "1 with several faces" "$bin" identify --db "$db" "$tmp/group.jpg" "$peirsol" -o "$tmp/who.csv"
[ "$(grep -c "faces in" "$tmp/err")" = 1 ] || fail "one notice per group photo: $(cat "$tmp/err")"
expect 0 "identify: 1 image with" "$bin" identify --db "$db" "$peirsol" -o "$tmp/who.csv"
[ "$(grep -c "faces in" "$tmp/err")" = 0 ] || fail "a notice for a photo of one face: $(cat "$tmp/err")"
expect 0 "" "$bin" identify --quiet --db "$db" "$tmp/group.jpg" -o "$tmp/who.csv"
[ -s "$tmp/err" ] && fail "--quiet printed: $(cat "$tmp/err")"
expect 0 "2 faces in .*group.jpg; used the largest, face 1 \(--face chooses another, --all-faces takes each\)" \
  "$bin" embed "$tmp/group.jpg" -o "$tmp/e.npy"

# ---- identify takes embed --all-faces output: the rows identify --all-faces writes -------------
# (a 150x150 chip is embedded as it is: its row is face -1 without a box, which identify took
# for a damaged table before)
chip="$data/dlib_johns/John_Salley/000179_02159509.jpg"
"$bin" embed --quiet --all-faces "$tmp/group.jpg" "$peirsol" "$chip" -o "$tmp/all.npy" || fail "embed --all-faces"
for k in 1 2; do
  for out in who.csv who.jsonl; do
    "$bin" identify --quiet --db "$db" -k $k --all-faces "$tmp/group.jpg" "$peirsol" "$chip" -o "$tmp/direct-$k-$out" \
      || fail "identify --all-faces -k $k -o $out"
    expect 0 "" "$bin" identify --quiet --db "$db" -k $k "$tmp/all.npy" -o "$tmp/npy-$k-$out"
    cmp -s "$tmp/direct-$k-$out" "$tmp/npy-$k-$out" && [ "$(wc -l < "$tmp/npy-$k-$out")" -ge 3 ] \
      || fail "identify all.npy -k $k -o $out: not identify --all-faces' rows: $(diff "$tmp/direct-$k-$out" "$tmp/npy-$k-$out" | head -6)"
  done
done
grep -q "^.*group.jpg,sorkin,0\.[0-9]*,ok,2,0," "$tmp/npy-1-who.csv" && grep -q "group.jpg,peirsol,0\.[0-9]*,ok,2,1," "$tmp/npy-1-who.csv" \
  || fail "all.npy: a row per face of group.jpg: $(cat "$tmp/npy-1-who.csv")"
# a set that does not belong together, another model's width: one line, nothing written
cp "$tmp/all.npy" "$tmp/bad.npy" && cp "$tmp/all.paths" "$tmp/bad.paths" && cp "$tmp/all.faces.csv" "$tmp/bad.faces.csv"
sed 's/all\./bad./' "$tmp/all.sha256" > "$tmp/bad.sha256" && echo "x.jpg" >> "$tmp/bad.paths"
expect 4 "bad.paths" "$bin" identify --db "$db" "$tmp/bad.npy" -o "$tmp/bad.csv"
[ -e "$tmp/bad.csv" ] && fail "a refused .npy left bad.csv"
"$bin" embed --quiet --model pixels --align none "$peirsol" -o "$tmp/px.npy" || fail "embed pixels"
expect 4 "px.npy holds embeddings of pixels/pixels/12288/- \(.*px.model\); this run's model is dlib/" \
  "$bin" identify --db "$db" "$tmp/px.npy"
# an older embed output (no .model beside it): the rows' width is checked
mv "$tmp/px.model" "$tmp/px.model.away"
expect 4 "px.npy holds embeddings of 12288 numbers; the dlib model makes 128" \
  "$bin" identify --db "$db" "$tmp/px.npy"
mv "$tmp/px.model.away" "$tmp/px.model"
# without --model, the model the database records: a pixels database takes px.npy
"$bin" enroll --quiet --model pixels --align none --db "$tmp/px.db" --name peirsol "$peirsol" || fail "enroll pixels"
expect 0 "" "$bin" identify --quiet --db "$tmp/px.db" --threshold 1 "$tmp/px.npy" -o "$tmp/px.csv"
grep -Eq "Aaron_Peirsol_0002.jpg,peirsol,0\.00[0-9]+,ok,0," "$tmp/px.csv" || fail "px.npy in px.db: $(cat "$tmp/px.csv")"

# ---- enroll: a group photo needs --face ------------------------------------------------------
before="$(rows "$db")"
expect 2 "group.jpg: 2 faces: which one is newcomer\? \(--face largest\|central\|INDEX" \
  "$bin" enroll --db "$db" --name newcomer "$sorkin" "$tmp/group.jpg"
grep -q "nothing enrolled: 1 photo with several faces" "$tmp/err" || fail "enroll: no summary line"
grep -q "faces in" "$tmp/err" && fail "enroll: the notice beside the refusal: $(cat "$tmp/err")"
[ "$(rows "$db")" = "$before" ] || fail "a refused enrolment changed the database"
mkdir -p "$tmp/people/newcomer" && cp "$tmp/group.jpg" "$tmp/people/newcomer/"
expect 2 "nothing enrolled" "$bin" enroll --quiet --db "$db" --dir "$tmp/people"
[ "$(rows "$db")" = "$before" ] || fail "a refused --dir enrolment changed the database"
# --keep-going: the group photo is skipped and named, the other photo (one not enrolled yet:
# an enrolled one would be skipped as already there) enrolled, exit 3
expect 3 "enroll: --keep-going: skipped 1 of 2 images:" \
  "$bin" enroll --db "$db" --name newcomer --keep-going "$lfw/Aaron_Peirsol/Aaron_Peirsol_0003.jpg" \
  "$tmp/group.jpg"
for line in "group.jpg: 2 faces: which one is newcomer\?.*: skipped$" \
    "1 image of 1 person added" "  skipped .*group.jpg: several faces$"; do
  grep -Eq -- "$line" "$tmp/err" || fail "enroll --keep-going: no /$line/: $(cat "$tmp/err")"
done
[ "$(rows "$db")" = "$((before + 1))" ] || fail "enroll --keep-going did not add the one good photo"
"$bin" db remove --quiet --db "$db" newcomer || fail "db remove newcomer"
expect 0 "2 faces in .*group.jpg; used face 0" \
  "$bin" enroll --db "$db" --name sorkin --face 0 "$tmp/group.jpg"
[ "$(rows "$db")" = "$((before + 1))" ] || fail "enroll --face 0 did not add one embedding"
expect 0 "" "$bin" enroll --quiet --db "$db" --name peirsol --face largest "$tmp/group.jpg"
[ "$(rows "$db")" = "$((before + 2))" ] || fail "enroll --face largest did not add one embedding"

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
