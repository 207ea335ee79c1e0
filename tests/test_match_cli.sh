#!/usr/bin/env bash
# test_match_cli.sh: the matching commands from the outside, on real images: what a user sees
# when something is wrong (one clear line naming the cause, an exit code that says which kind
# of failure, and a database byte-for-byte unchanged), and outputs checked against numpy.
set -euo pipefail
bin="${FACEREC_BIN:?}"
py="${FACEREC_PYTHON:?}"
data="${FACEREC_DATA:?}"
[ -f "${FACEREC_WEIGHTS:?}/dlib.frw" ] || { echo "no dlib weights (weights/fetch.sh)"; exit 77; }
"$py" -c 'import numpy' 2>/dev/null || { echo "no numpy for $py"; exit 77; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
db="$tmp/office.db"
people="$data/happyhouse/database"
camera="$data/happyhouse/camera"

. "$(dirname "$0")/cli_checks.sh"

# ---- the database: missing, empty, wrong model, failed enrolments ------------------------------
expect "identify: a missing database" 4 "no such database" \
    "$bin" identify --db "$tmp/none.db" "$camera/camera_0.jpg"
ok "a missing database is not created by a reader" '[ ! -e "$tmp/none.db" ]'
expect "enroll: an unreadable image among good ones" 3 "images/empty.jpg;nothing enrolled" \
    "$bin" enroll --db "$db" --name younes "$people/younes.jpg" \
    "${FACEREC_SOURCE_DIR:?}/tests/data/images/empty.jpg"
ok "... and no database file left behind" '[ ! -e "$db" ]'

"$bin" enroll --quiet --db "$db" --dir "$people"
before="$(digest "$db")"
expect "enroll: an unreadable image into an existing database" 3 "missing.jpg;nothing enrolled" \
    "$bin" enroll --db "$db" --name kian "$camera/camera_2.jpg" "$tmp/missing.jpg"
ok "... leaves it unchanged" '[ "$(digest "$db")" = "$before" ]'
expect "enroll: another model's embeddings" 4 "holds embeddings of dlib.*this run uses pixels" \
    "$bin" enroll --db "$db" --model pixels --name kian "$camera/camera_2.jpg"
ok "... leaves it unchanged" '[ "$(digest "$db")" = "$before" ]'
expect "identify: with another model" 4 "holds embeddings of dlib.*pixels" \
    "$bin" identify --db "$db" --model pixels --threshold 0.5 "$camera/camera_0.jpg"
expect "verify: an unknown name" 2 "no person named 'kiann'" \
    "$bin" verify --db "$db" --name kiann "$camera/camera_2.jpg"
expect "verify: an unreadable image" 3 "missing.jpg" \
    "$bin" verify --db "$db" --name kian "$tmp/missing.jpg"
expect "db remove: an unknown name among known ones" 2 "no person named 'nobody'; nothing removed" \
    "$bin" db remove --db "$db" kian nobody
expect "db rename: onto an existing name" 2 "'younes' already exists" \
    "$bin" db rename --db "$db" kian younes
expect "enroll: a name with a newline" 2 "control character" \
    "$bin" enroll --db "$db" --name "$(printf 'a\nb')" "$camera/camera_2.jpg"
ok "... all of which left the database unchanged" '[ "$(digest "$db")" = "$before" ]'
printf 'not a database at all, just some text that is long enough to be read\n' > "$tmp/text.db"
expect "a file that is not SQLite" 4 "text.db: not an SQLite database" \
    "$bin" db list --db "$tmp/text.db"

printf 'missing_first.jpg\tyounes\ncamera_0.jpg\tyounes\n' > "$tmp/claims.tsv"
expect "verify --claims: a missing image on the first line is a claim, not a header" 3 \
    "missing_first.jpg;1 of 2 claims" \
    "$bin" verify --db "$db" --claims "$tmp/claims.tsv" --root "$camera"
ok "... and the other claim is answered" 'grep -q "camera_0.jpg,younes" "$tmp/out"'

# JSON output stays valid UTF-8 whatever bytes a file name holds (surrogates, overlong forms)
mkdir -p "$tmp/u8"
cp "$camera/camera_0.jpg" "$tmp/u8/$(printf 'a\355\240\200b\340\200\257c\364\220\200\200').jpg"
"$bin" identify --quiet --db "$db" --json "$tmp/u8" > "$tmp/u8.jsonl" || true
ok "identify --json: invalid UTF-8 in a path comes out as U+FFFD, valid JSON" \
    '"$py" -c "import json,sys; rows=[json.loads(l) for l in open(sys.argv[1], encoding=\"utf-8\")]; assert len(rows) == 1 and \"\\ufffd\" in rows[0][\"path\"]" "$tmp/u8.jsonl"'

mkdir -p "$tmp/no-images"
expect "distmat: a folder without images" 4 "no-images: no images found" \
    "$bin" distmat "$tmp/no-images" -o "$tmp/D.npy"
expect "distmat: a missing folder" 4 "nowhere: No such file;nowhere: no images found" \
    "$bin" distmat "$camera" "$tmp/nowhere" -o "$tmp/D.npy"
ok "... and no matrix written" '[ ! -e "$tmp/D.npy" ]'

# rename and remove work, and list shows it
"$bin" db rename --quiet --db "$db" kian kian_k
"$bin" db remove --quiet --db "$db" younes younes
ok "rename and remove: 11 people, kian_k among them" \
    '"$bin" db list --db "$db" | grep -q "11 people" && "$bin" db list --db "$db" --json | grep -q "\"kian_k\""'
"$bin" identify --db "$db" "$camera/camera_0.jpg" -k 12 --json > "$tmp/out" || true
ok "a removed person is gone: younes not among camera_0's 12 candidates" \
    'grep -q candidates "$tmp/out" && ! grep -q younes "$tmp/out"'

# two photos, no database (deepface's verify): the seed's camera_0 is younes, camera_2 not kian
code=0; two="$("$bin" verify --quiet "$camera/camera_0.jpg" "$people/younes.jpg")" || code=$?
ok "verify IMG1 IMG2: camera_0 and younes.jpg are the same person (exit 0)" \
    '[ $code = 0 ] && [[ "$two" =~ ^"The same person (distance 0.19"[0-9]" < threshold 0.428)"$ ]]'
code=0; two="$("$bin" verify --quiet --json "$camera/camera_2.jpg" "$people/kian.jpg")" || code=$?
ok "verify IMG1 IMG2 --json: camera_2 is not kian (exit 1)" \
    '[ $code = 1 ] && [[ "$two" == *"\"distance\": 0.51"*"\"verified\": false}" ]]'
expect "verify IMG1 IMG2: a missing photo" 3 "missing.jpg" \
    "$bin" verify --quiet "$camera/camera_0.jpg" "$tmp/missing.jpg"

# several images per person: min and mean differ, and a second enrolment adds
"$bin" enroll --quiet --db "$db" --name bertrand "$camera/camera_1.jpg" "$camera/camera_3.jpg"
ok "bertrand has 3 embeddings" '"$bin" db list --db "$db" --json | grep -q "\"bertrand\", \"embeddings\": 3"'
min="$("$bin" verify --db "$db" --name bertrand --json "$camera/camera_3.jpg")"
mean="$("$bin" verify --db "$db" --name bertrand --aggregate mean --json "$camera/camera_3.jpg")"
ok "min over bertrand's images: camera_3 itself, distance ~0" '[[ "$min" == *"\"distance\": 0.00"* ]]'
ok "distance to bertrand's mean: larger" '[[ "$mean" != *"\"distance\": 0.00"* ]]'

# an empty database
"$bin" db remove --quiet --db "$db" $("$bin" db list --db "$db" --json | sed 's/{"name": "\([^"]*\)".*/\1/')
expect "identify: an empty database" 4 "the database is empty" \
    "$bin" identify --db "$db" "$camera/camera_0.jpg"

# ---- identify in bulk: an unreadable image is named and keeps its row, the rest are answered ----
"$bin" enroll --quiet --db "$tmp/b.db" --dir "$people"
mkdir "$tmp/mixed"
cp "$camera"/camera_0.jpg "$camera"/camera_1.jpg "$tmp/mixed/"
cp "${FACEREC_SOURCE_DIR}/tests/data/images/truncated.png" "$tmp/mixed/broken.png"
expect "identify: a broken image in a folder" 3 "broken.png" \
    "$bin" identify --db "$tmp/b.db" "$tmp/mixed" -o "$tmp/who.jsonl"
ok "... the two others answered, as JSON Lines, the broken one a row with status unreadable" \
    '[ "$(wc -l < "$tmp/who.jsonl")" = 3 ] && grep -q "\"identity\": \"younes\"" "$tmp/who.jsonl" && "$py" -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; assert [x[\"status\"] for x in r].count(\"ok\") == 2; b=[x for x in r if x[\"path\"].endswith(\"broken.png\")][0]; assert b[\"status\"] == \"unreadable\" and b[\"identity\"] is None and b[\"distance\"] is None" "$tmp/who.jsonl"'

# ---- distmat against numpy ----------------------------------------------------------------------
"$bin" embed --quiet "$data/dlib_johns" -o "$tmp/johns.npy"
"$bin" embed --quiet "$camera" -o "$tmp/camera.npy"
"$bin" distmat --quiet "$tmp/johns.npy" -o "$tmp/dj.npy"
"$bin" distmat --quiet "$tmp/johns.npy" "$tmp/camera.npy" -o "$tmp/djc.npy"
"$bin" distmat --quiet "$data/dlib_johns" "$camera" -o "$tmp/dimg.npy"
ok "distmat of .npy sets and of image folders equals numpy's float64 distances" '"$py" - "$tmp" <<EOF
import numpy as np, sys
t = sys.argv[1]
a, b = np.load(t + "/johns.npy").astype(np.float64), np.load(t + "/camera.npy").astype(np.float64)
ref = lambda x, y: np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))
d, dc, di = np.load(t + "/dj.npy"), np.load(t + "/djc.npy"), np.load(t + "/dimg.npy")
assert d.shape == (55, 55) and dc.shape == (55, 6) and d.dtype == np.float32
assert np.abs(d - ref(a, a)).max() < 2e-3 and np.abs(dc - ref(a, b)).max() < 2e-3
assert (d == d.T).all() and (np.diag(d) == 0).all()
assert np.abs(di - dc).max() < 1e-4  # embedded in other batches: float noise (2.7e-5 seen)
rows = open(t + "/dimg.rows.paths").read().split()
assert len(rows) == 55 and rows == open(t + "/johns.paths").read().split()
EOF'
expect "distmat: sets of different models" 2 "128-d .* 12288-d|12288-d .* 128-d" \
    "$bin" distmat "$tmp/johns.npy" "$camera" --model pixels -o "$tmp/x.npy"
ok "... nothing written" '[ ! -e "$tmp/x.npy" ]'

# embeddings with a NaN: refused naming the row, never distances of 0 ("the same face")
"$py" -c "
import numpy as np, sys
a = np.load(sys.argv[1]); a[2, 7] = np.nan; np.save(sys.argv[2], a)" "$tmp/johns.npy" "$tmp/nan.npy"
expect "distmat: a NaN in an embedding" 4 "nan.npy: row 2 holds a non-finite value" \
    "$bin" distmat "$tmp/nan.npy" -o "$tmp/dnan.npy"
ok "... nothing written" '[ ! -e "$tmp/dnan.npy" ]'

# ---- pairs and eval -------------------------------------------------------------------------------
j="$data/dlib_johns"
{
    printf 'path1\tpath2\tlabel\n'
    for i in 1 2 3 4 5; do
        n=$(ls "$j" | sed -n "${i}p")
        a=$(ls "$j/$n" | sed -n 1p); b=$(ls "$j/$n" | sed -n 2p)
        m=$(ls "$j" | sed -n "$((i % 5 + 1))p"); c=$(ls "$j/$m" | sed -n 3p)
        printf '%s\t%s\t1\n%s\t%s\t0\n' "$n/$a" "$n/$b" "$n/$a" "$m/$c"
    done
    printf 'no/such.jpg\t%s\t0\n' "$n/$a"
} > "$tmp/pairs.tsv"
expect "pairs: a TSV with a missing image" 3 "no/such.jpg" \
    "$bin" pairs "$tmp/pairs.tsv" --root "$j" -o "$tmp/scores.csv"
ok "... 10 pairs scored, as path1,path2,same,distance,fold" \
    '[ "$(head -1 "$tmp/scores.csv")" = "path1,path2,same,distance,fold" ] && [ "$(wc -l < "$tmp/scores.csv")" = 11 ]'
"$bin" eval "$tmp/scores.csv" --folds 5 --json --plots "$tmp/plot" > "$tmp/eval.json"
ok "eval: accuracy 1 on these aligned chips, AUC 1, plots written" '"$py" - "$tmp" <<EOF
import json, sys
t = sys.argv[1]
r = json.load(open(t + "/eval.json"))
assert r["pairs"] == 10 and r["folds"] == 5 and r["auc"] == 1.0, r
assert r["accuracy"] == 1.0 and r["accuracy_mean"] == 1.0, r
assert open(t + "/plot.roc.svg").read().startswith("<?xml")
assert "</svg>" in open(t + "/plot.hist.svg").read()
EOF'
printf 'distance,same\n0.3,1\nabc,0\n' > "$tmp/bad.csv"
expect "eval: a malformed line is named" 4 "bad.csv:3" "$bin" eval "$tmp/bad.csv"
printf '3\nAaron_Peirsol\t1\t2\n' > "$tmp/short.txt"
expect "pairs: an LFW file shorter than its header says" 4 "promises 6 pairs, the file has 1" \
    "$bin" pairs "$tmp/short.txt" --root "$data/lfw_devtrain/images" -o "$tmp/s.csv"
# a mistyped label on the first line is an error naming it, never a header silently dropped
printf '%s\t%s\tsmae\n%s\t%s\t0\n' "$n/$a" "$n/$b" "$n/$a" "$m/$c" > "$tmp/typo.tsv"
expect "pairs: a mistyped label on the first line" 4 "typo.tsv:1: label 'smae'" \
    "$bin" pairs "$tmp/typo.tsv" --root "$j" -o "$tmp/t.csv"
printf 'image_a\timage_b\tis_same\n%s\t%s\t1\n' "$n/$a" "$n/$b" > "$tmp/header.tsv"
"$bin" pairs --quiet "$tmp/header.tsv" --root "$j" -o "$tmp/h.csv"
ok "pairs: a header line is still skipped" '[ "$(wc -l < "$tmp/h.csv")" = 2 ]'

# ---- CSV cells a spreadsheet would run as formulas ----------------------------------------------
cp "$people/younes.jpg" "$tmp/=1+2.jpg"
"$bin" enroll --quiet --db "$tmp/formula.db" --name '=HYPERLINK("http://x.example","y")' "$tmp/=1+2.jpg"
(cd "$tmp" && "$bin" identify --quiet --db formula.db "=1+2.jpg" -o who.csv)
ok "identify: a name and a path starting with = are quoted as text ('=...)" '"$py" - "$tmp" <<EOF
import csv, sys
rows = list(csv.reader(open(sys.argv[1] + "/who.csv")))
assert rows[1][0] == "\x27=1+2.jpg" and rows[1][1] == "\x27=HYPERLINK(\"http://x.example\",\"y\")", rows
raw = open(sys.argv[1] + "/who.csv").read().splitlines()[1]
assert raw.startswith("\"\x27=1+2.jpg\",\"\x27=HYPERLINK("), raw
EOF'
exit $fail
