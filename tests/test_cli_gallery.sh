#!/usr/bin/env bash
# test_cli_gallery.sh: a gallery that stays clean (issue 9, item 8). Enrolling a folder again
# adds nothing ("skipped N images already enrolled": the SHA-256 of each file and the face are
# recorded with its embedding), a copy of an enrolled photo under another name is not enrolled
# as a second person, `db list --images` shows every embedding with its hash and face, and
# `db remove --image PATH|ID` removes one (nothing when unknown, an ambiguous path refused).
# A database made before hashes existed (tests/data/store/v1_two_people.db) opens, answers as
# before and gains hashes for what is enrolled into it from then on.
set -uo pipefail
bin="${FACEREC_BIN:?}"; data="${FACEREC_DATA:?}"; python="${FACEREC_PYTHON:-python3}"
src="${FACEREC_SOURCE_DIR:?}"
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
lfw="$data/lfw_devtrain/images"
db="$tmp/office.db"
mkdir -p "$tmp/peirsol"
cp "$lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg" "$lfw/Aaron_Peirsol/Aaron_Peirsol_0002.jpg" "$tmp/peirsol/"

# ---- re-enrolling a folder adds nothing ----
expect 0 "2 images of 1 person added" "$bin" enroll --db "$db" --name peirsol "$tmp/peirsol"
expect 0 "skipped 2 images already enrolled" "$bin" enroll --db "$db" --name peirsol "$tmp/peirsol"
grep -q "nothing new added to" "$tmp/out" || fail "re-enrol: no 'nothing new' line: $(cat "$tmp/out")"
# known files are left out before anything is embedded: no model run at all
grep -q "with dlib on" "$tmp/out" && fail "re-enrol embedded the known images again: $(cat "$tmp/out")"
expect 0 "1 person, 2 embeddings" "$bin" db list --db "$db"
# one new photo in the folder: it alone is added
cp "$lfw/Aaron_Peirsol/Aaron_Peirsol_0003.jpg" "$tmp/peirsol/"
expect 0 "skipped 2 images already enrolled" "$bin" enroll --db "$db" --name peirsol "$tmp/peirsol"
grep -q "1 image of 1 person added" "$tmp/out" || fail "the new photo: $(cat "$tmp/out")"
grep -q "enroll: 1 image with dlib on" "$tmp/out" || fail "only the new photo should be embedded: $(cat "$tmp/out")"
expect 0 "1 person, 3 embeddings" "$bin" db list --db "$db"
# the same file under another name and path is not a second person
cp "$lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg" "$tmp/someone.jpg"
expect 0 "someone.jpg: already enrolled as 'peirsol' \(the same file content( and face)?\): not added to 'sorkin'" \
  "$bin" enroll --db "$db" --name sorkin "$tmp/someone.jpg"
expect 0 "1 person, 3 embeddings" "$bin" db list --db "$db"
# twice in one batch (a copy): enrolled once
mkdir -p "$tmp/sorkin"
cp "$lfw/Aaron_Sorkin/Aaron_Sorkin_0001.jpg" "$tmp/sorkin/a.jpg"
cp "$lfw/Aaron_Sorkin/Aaron_Sorkin_0001.jpg" "$tmp/sorkin/b.jpg"
expect 0 "skipped 1 image already enrolled" "$bin" enroll --db "$db" --name sorkin "$tmp/sorkin"
expect 0 "2 people, 4 embeddings" "$bin" db list --db "$db"

# ---- db list --images: one row per embedding, its hash the file's ----
expect 0 "office.db: 4 embeddings" "$bin" db list --db "$db" --images
hash="$(sha256sum "$tmp/peirsol/Aaron_Peirsol_0002.jpg" | cut -c1-12)"
grep -Eq "^ +2  peirsol +$hash +0  [0-9]+,[0-9]+,[0-9]+,[0-9]+ +.*peirsol/Aaron_Peirsol_0002.jpg$" "$tmp/out" ||
  fail "db list --images: no row 2 with hash $hash, face 0 and a box: $(cat "$tmp/out")"
"$bin" db list --db "$db" --images --json >"$tmp/rows.json" || fail "db list --images --json"
"$python" - "$tmp/rows.json" "$tmp/peirsol/Aaron_Peirsol_0002.jpg" <<'PY' || fail "--images --json"
import hashlib, json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert len(rows) == 4, rows
want = hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
row = [r for r in rows if r["source"] == sys.argv[2]][0]
assert row["sha256"] == want and row["face"] == 0 and len(row["box"]) == 4, row
assert [r["person"] for r in rows] == ["peirsol"] * 3 + ["sorkin"], rows
PY
expect 2 "--images: only db list takes it" "$bin" db remove --db "$db" --images peirsol

# ---- db remove --image ----
cp "$db" "$tmp/before.db"
expect 2 "no embedding with the id or image path 'nowhere.jpg'.*nothing removed" \
  "$bin" db remove --db "$db" --image 1 nowhere.jpg
cmp -s "$db" "$tmp/before.db" || fail "a refused removal changed the database"
expect 0 "removed 1 embedding from" "$bin" db remove --db "$db" --image "$tmp/peirsol/Aaron_Peirsol_0003.jpg"
expect 0 "2 people, 3 embeddings" "$bin" db list --db "$db"
grep -q "peirsol  *2 " <("$bin" db list --db "$db") || fail "peirsol should have 2 embeddings"
# the last embedding of a person takes the person along
sorkin_id="$("$bin" db list --db "$db" --images | awk '$2 == "sorkin" {print $1}')"
expect 0 "removed 1 embedding from .* \(and 1 person left without embeddings\)" \
  "$bin" db remove --db "$db" --image "$sorkin_id"
expect 0 "office.db: 1 person, 2 embeddings" "$bin" db list --db "$db"
# removed, it may be enrolled again
expect 0 "1 image of 1 person added" "$bin" enroll --db "$db" --name sorkin "$tmp/sorkin/a.jpg"
# a group photo, both faces enrolled: its path names two embeddings, refused
"$python" - "$lfw" "$tmp/group.jpg" <<'PY' || { echo "no PIL"; exit 77; }
import os, sys
from PIL import Image
lfw, out = sys.argv[1:]
group = Image.new("RGB", (500, 250))
group.paste(Image.open(os.path.join(lfw, "Aaron_Peirsol/Aaron_Peirsol_0004.jpg")), (0, 0))
group.paste(Image.open(os.path.join(lfw, "Aaron_Sorkin/Aaron_Sorkin_0002.jpg")).resize((200, 200)),
            (280, 20))
group.save(out, quality=95)
PY
expect 0 "1 image of 1 person added" "$bin" enroll --db "$db" --name peirsol --face largest "$tmp/group.jpg"
expect 0 "1 image of 1 person added" "$bin" enroll --db "$db" --name sorkin --face 0 "$tmp/group.jpg"
expect 0 "skipped 1 image already enrolled" "$bin" enroll --db "$db" --name sorkin --face 0 "$tmp/group.jpg"
cp "$db" "$tmp/before.db"
expect 2 "2 embeddings come from '.*group.jpg' \(ids [0-9]+, [0-9]+\): give the id" \
  "$bin" db remove --db "$db" --image "$tmp/group.jpg"
cmp -s "$db" "$tmp/before.db" || fail "a refused ambiguous removal changed the database"

# ---- db split: the shards keep the image records, the stored threshold, the weights file ----
expect 0 "use the threshold 0.41" "$bin" db set --db "$db" --threshold 0.41
expect 0 "2 people of .*office.db in 2 databases" "$bin" db split --db "$db" 2 "$tmp/part.db"
# every embedding's row but its id: the same in the shards as in the database
rows() { "$bin" db list --db "$1" --images | awk 'NR > 2 { $1 = ""; print }'; }
rows "$db" > "$tmp/rows.all"
cat <(rows "$tmp/part-0.db") <(rows "$tmp/part-1.db") > "$tmp/rows.parts"
[ -s "$tmp/rows.all" ] && cmp -s "$tmp/rows.all" "$tmp/rows.parts" ||
  fail "db split lost image records: $(diff "$tmp/rows.all" "$tmp/rows.parts" | head -c 600)"
grep -q " - " "$tmp/rows.parts" && fail "a shard has embeddings without hashes: $(cat "$tmp/rows.parts")"
for part in 0 1; do
  expect 0 "threshold 0.41 \(db set\), weights .*dlib.frw" "$bin" db list --db "$tmp/part-$part.db"
done
# re-enrolling into a shard what it holds adds nothing: of peirsol's folder, only the photo
# removed above (0003) is new; sorkin's two copies of one photo are already in its shard
expect 0 "skipped 2 images already enrolled" "$bin" enroll --db "$tmp/part-0.db" --name peirsol "$tmp/peirsol"
expect 0 "part-0.db: 1 person, 4 embeddings" "$bin" db list --db "$tmp/part-0.db"
expect 0 "nothing new added to .*part-1.db" "$bin" enroll --db "$tmp/part-1.db" --name sorkin "$tmp/sorkin"

# ---- a database made before hashes were recorded (format version 1) ----
cp "$src/tests/data/store/v1_two_people.db" "$tmp/old.db"
cd "$src" || exit 1 # the fixture's sources are relative to the source tree
expect 0 "2 people, 3 embeddings" "$bin" db list --db "$tmp/old.db"
expect 0 "^ +1  John_Salley +- +- +- +samples/johns/John_Salley/000179_02159509.jpg$" \
  "$bin" db list --db "$tmp/old.db" --images
expect 0 "John_Savage" "$bin" identify --db "$tmp/old.db" samples/johns/John_Savage/000274_01099061.jpg
# split: the shards hold its embeddings, without hashes as in it
expect 0 "2 people of .*old.db in 2 databases" "$bin" db split --db "$tmp/old.db" 2 "$tmp/oldpart.db"
expect 0 "^ +1  John_Salley +- +- +- +samples/johns/John_Salley/000179_02159509.jpg$" \
  "$bin" db list --db "$tmp/oldpart-0.db" --images
cmp -s "$tmp/old.db" "$src/tests/data/store/v1_two_people.db" || fail "reading changed the old database"
expect 0 "1 image of 1 person added" "$bin" enroll --db "$tmp/old.db" --name John_Savage \
  samples/johns/John_Savage/000274_01099061.jpg
expect 0 "skipped 1 image already enrolled" "$bin" enroll --db "$tmp/old.db" --name John_Savage \
  samples/johns/John_Savage/000274_01099061.jpg
expect 0 "2 people, 4 embeddings" "$bin" db list --db "$tmp/old.db"
expect 0 "John_Savage +[0-9a-f]{12} " "$bin" db list --db "$tmp/old.db" --images
expect 0 "removed 1 embedding" "$bin" db remove --db "$tmp/old.db" --image 1
expect 0 "2 people, 3 embeddings" "$bin" db list --db "$tmp/old.db"
[ "$failures" = 0 ] && echo "all passed" || { echo "$failures failure(s)"; exit 1; }
