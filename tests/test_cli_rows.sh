#!/usr/bin/env bash
# test_cli_rows.sh: one row per input (issue 9, item 6). identify's and verify's tables keep a
# row for an image without a face and for one that cannot be read, with a status column (ok,
# no_face, unreadable; verify's unknown_name), the number of faces found, the face used (its
# index and box) and the reason; the summary counts "without a face" apart from "unreadable".
# identify --all-faces (item 4): a row per face, each face of a group photo answered; verify
# --all-faces: welcome when any face is the person, saying which.
set -uo pipefail
bin="${FACEREC_BIN:?}"; data="${FACEREC_DATA:?}"; python="${FACEREC_PYTHON:-python3}"
[ -f "${FACEREC_WEIGHTS:?}/dlib.frw" ] || { echo "no dlib weights (weights/fetch.sh)"; exit 77; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# the inputs: a group photo (Aaron Peirsol at full size on the left, Aaron Sorkin smaller on the
# right: two faces, the largest Peirsol's), another photo of Peirsol, a flat grey image (no
# face) and a truncated JPEG (unreadable)
lfw="$data/lfw_devtrain/images"
"$python" - "$lfw" "$tmp" <<'EOF' || { echo "no PIL"; exit 77; }
import os, sys
from PIL import Image
lfw, out = sys.argv[1:]
group = Image.new("RGB", (500, 250))
group.paste(Image.open(os.path.join(lfw, "Aaron_Peirsol/Aaron_Peirsol_0001.jpg")), (0, 0))
group.paste(Image.open(os.path.join(lfw, "Aaron_Sorkin/Aaron_Sorkin_0001.jpg")).resize((200, 200)),
            (275, 25))
group.save(os.path.join(out, "group.jpg"), quality=95)
Image.new("RGB", (160, 160), (128, 128, 128)).save(os.path.join(out, "flat.jpg"))
EOF
cp "$lfw/Aaron_Peirsol/Aaron_Peirsol_0003.jpg" "$tmp/peirsol.jpg"
head -c 3000 "$lfw/Aaron_Peirsol/Aaron_Peirsol_0004.jpg" > "$tmp/broken.jpg"
db="$tmp/people.db"
mkdir -p "$tmp/people/peirsol" "$tmp/people/sorkin"
cp "$lfw/Aaron_Peirsol/Aaron_Peirsol_0002.jpg" "$tmp/people/peirsol/"
cp "$lfw/Aaron_Sorkin/Aaron_Sorkin_0002.jpg" "$tmp/people/sorkin/"
"$bin" enroll --quiet --db "$db" --dir "$tmp/people" || fail "enroll"

# ---- identify: four inputs, four rows ---------------------------------------------------------
timeout 120 "$bin" identify --db "$db" "$tmp/group.jpg" "$tmp/peirsol.jpg" "$tmp/flat.jpg" \
  "$tmp/broken.jpg" -o "$tmp/who.csv" 2>"$tmp/err"
code=$?
[ "$code" = 3 ] || fail "identify with a faceless and a broken image: exit $code (want 3): $(cat "$tmp/err")"
grep -Eq "identify: 4 images \(1 unreadable, 1 without a face\)" "$tmp/err" ||
  fail "the summary should count the four inputs, the faceless image apart: $(cat "$tmp/err")"
"$python" - "$tmp/who.csv" <<'EOF' || fail "identify's rows: $(cat "$tmp/who.csv")"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
head = open(sys.argv[1]).readline().strip()
assert head == "path,identity,distance,status,faces,face,x1,y1,x2,y2,error", head
by = {r["path"].rsplit("/", 1)[-1]: r for r in rows}
assert len(rows) == 4 and sorted(by) == ["broken.jpg", "flat.jpg", "group.jpg", "peirsol.jpg"], by
g, p, f, b = by["group.jpg"], by["peirsol.jpg"], by["flat.jpg"], by["broken.jpg"]
assert g["status"] == "ok" and g["identity"] == "peirsol" and g["faces"] == "2", g
# the face used is the largest, Peirsol's, on the left half (face 1: the detector lists the
# smaller face first, by score)
x1, y1, x2, y2 = (float(g[k]) for k in ("x1", "y1", "x2", "y2"))
assert g["face"] == "1" and 0 <= x1 < x2 < 250 and x2 - x1 > 60 and y2 > y1, g
assert p["status"] == "ok" and p["identity"] == "peirsol" and p["faces"] == "1" and p["face"] == "0", p
assert float(p["distance"]) < 0.428 and p["error"] == "", p
assert f["status"] == "no_face" and f["faces"] == "0" and f["identity"] == f["distance"] == "", f
assert f["x1"] == f["face"] == "" and "no face" in f["error"], f
assert b["status"] == "unreadable" and b["identity"] == b["distance"] == b["x1"] == "", b
assert "broken.jpg" in b["error"] and "no face" not in b["error"], b
EOF

# ---- verify --claims: a row for every claim, JSON Lines --------------------------------------
printf '%s\tpeirsol\n' "$tmp/peirsol.jpg" "$tmp/flat.jpg" "$tmp/broken.jpg" > "$tmp/claims.tsv"
printf '%s\tnobody\n' "$tmp/peirsol.jpg" >> "$tmp/claims.tsv"
timeout 120 "$bin" verify --db "$db" --claims "$tmp/claims.tsv" --json > "$tmp/claims.jsonl" 2>"$tmp/err"
code=$?
[ "$code" = 3 ] || fail "verify with claims left unanswered: exit $code (want 3): $(cat "$tmp/err")"
grep -q "3 of 4 claims without an answer" "$tmp/err" || fail "verify's count: $(cat "$tmp/err")"
"$python" - "$tmp/claims.jsonl" <<'EOF' || fail "verify's rows: $(cat "$tmp/claims.jsonl")"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert len(rows) == 4, rows
ok, flat, broken, nobody = rows  # the claims' order
assert ok["status"] == "ok" and ok["verified"] is True and ok["faces"] == 1 and ok["error"] is None, ok
assert len(ok["box"]) == 4 and ok["face"] == 0, ok
assert flat["status"] == "no_face" and flat["verified"] is None and flat["distance"] is None, flat
assert flat["box"] is None and "no face" in flat["error"], flat
assert broken["status"] == "unreadable" and broken["verified"] is None and broken["faces"] == 0, broken
assert nobody["status"] == "unknown_name" and nobody["name"] == "nobody" and nobody["verified"] is None, nobody
assert nobody["box"] == ok["box"] and "no person" in nobody["error"], nobody
EOF

# ---- identify --all-faces: each face of the group photo is a row, and both are known -----------
timeout 120 "$bin" identify --db "$db" --all-faces --json "$tmp/group.jpg" "$tmp/flat.jpg" \
  -o "$tmp/all.jsonl" 2>"$tmp/err"
code=$?
[ "$code" = 3 ] || fail "identify --all-faces with a faceless image: exit $code (want 3): $(cat "$tmp/err")"
grep -q "faces in" "$tmp/err" && fail "--all-faces uses every face: no 'used the largest' notice: $(cat "$tmp/err")"
"$python" - "$tmp/all.jsonl" <<'EOF' || fail "identify --all-faces rows: $(cat "$tmp/all.jsonl")"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert [(r["path"].rsplit("/", 1)[-1], r["face"], r["status"]) for r in rows] == \
    [("group.jpg", 0, "ok"), ("group.jpg", 1, "ok"), ("flat.jpg", None, "no_face")], rows
small, large = rows[0], rows[1]
assert small["identity"] == "sorkin" and large["identity"] == "peirsol", rows
assert small["faces"] == large["faces"] == 2 and small["box"][0] > 250 > large["box"][2], rows
EOF
# one photo in words: a line per face, exit 0 when any face is known
timeout 120 "$bin" identify --quiet --db "$db" --all-faces "$tmp/group.jpg" >"$tmp/out" 2>"$tmp/err" ||
  fail "identify --all-faces of one photo: exit $? ($(cat "$tmp/err"))"
grep -Eq "^face 0 \([0-9]+,[0-9]+,[0-9]+,[0-9]+\): it's sorkin" "$tmp/out" &&
  grep -Eq "^face 1 \([0-9,]+\): it's peirsol" "$tmp/out" || fail "one photo, every face: $(cat "$tmp/out")"

# ---- verify --all-faces: the smaller face of the group photo is Sorkin: welcome, naming it -----
timeout 120 "$bin" verify --quiet --db "$db" --all-faces --name sorkin "$tmp/group.jpg" \
  >"$tmp/out" 2>"$tmp/err" || fail "verify --all-faces: exit $? ($(cat "$tmp/out" "$tmp/err"))"
grep -Eq "^It's sorkin, welcome in! \(face 0 of 2, distance 0\.[0-9]+ < threshold 0.428\)" "$tmp/out" ||
  fail "verify --all-faces should name the face: $(cat "$tmp/out")"

# the summaries count images, not rows: cluster --all-faces makes a row per face (three here,
# two of the group photo) of four inputs; before, "3 images (1 unreadable, 1 without a face)"
timeout 120 "$bin" cluster --all-faces "$tmp/group.jpg" "$tmp/peirsol.jpg" "$tmp/flat.jpg" \
  "$tmp/broken.jpg" -o "$tmp/clusters.csv" 2>"$tmp/err"
code=$?
[ "$code" = 3 ] || fail "cluster with a faceless and a broken image: exit $code (want 3): $(cat "$tmp/err")"
grep -Eq "^cluster: 4 images \(1 unreadable, 1 without a face\) with" "$tmp/err" ||
  fail "cluster's summary should count the four images: $(cat "$tmp/err")"
grep -Eq "^cluster: 3 faces -> 2 clusters \(1 of two faces or more, the largest of 2; 1 singleton\);" "$tmp/err" ||
  fail "cluster's faces and clusters: $(cat "$tmp/err")"

[ "$failures" = 0 ] && echo "all passed" || { echo "$failures failure(s)"; exit 1; }
