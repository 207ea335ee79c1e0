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
cp "$db" "$tmp/before.db" # as every facerec before this one made it: no threshold stored

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

[ "$failures" = 0 ] && echo "all passed" || { echo "$failures failure(s)"; exit 1; }
