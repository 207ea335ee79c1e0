#!/usr/bin/env bash
# test_cli_outputs.sh: what the commands write, and what they never overwrite. Outputs that are
# an input or the identity database, drawings into a folder of photos: refused before any work
# unless --force. Unwritable outputs and database folders: refused before the first image is
# decoded (an unreadable image among the inputs would otherwise be named first), without
# naming a temporary file. Devices and FIFOs as outputs are streamed to or refused, never
# replaced; FIFOs as inputs or weights are refused at once instead of hanging. Two-file outputs
# carry a record of their digests that `sha256sum -c` checks; a full disk leaves the old pair.
set -uo pipefail
bin="${FACEREC_BIN:?}"; data="${FACEREC_DATA:?}"; src="${FACEREC_SOURCE_DIR:?}"
[ -f "${FACEREC_WEIGHTS:?}/dlib.frw" ] || { echo "no dlib weights (weights/fetch.sh)"; exit 77; }
tmp="$(mktemp -d)"
cleanup() { [ -n "${mounted:-}" ] && umount "$tmp/full" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# expect CODE PATTERN COMMAND...: exit code CODE and stderr matching PATTERN (extended regex)
expect() {
  local want="$1" pattern="$2"; shift 2
  timeout 60 "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
  if [ "$got" != "$want" ] || { [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$tmp/err"; }; then
    fail "exit $got (want $want, stderr /$pattern/): $* -- $(head -c 500 "$tmp/err")"
  else
    echo "ok: $(head -1 "$tmp/err")"
  fi
}
digest() { sha256sum "$1" | cut -d' ' -f1; }
no_temps() { [ -z "$(find "$tmp" -name '*.tmp.*' -print -quit)" ] || fail "temporary files left: $(find "$tmp" -name '*.tmp.*')"; }

photos="$tmp/photos"
mkdir -p "$photos"
cp "$data/happyhouse/camera/camera_0.jpg" "$data/happyhouse/camera/camera_2.jpg" "$photos/"
db="$tmp/office.db"
"$bin" enroll --quiet --db "$db" --dir "$data/happyhouse/database" || fail "enroll"
db_before="$(digest "$db")"
photo_before="$(digest "$photos/camera_0.jpg")"

# ---- outputs that are inputs or the database: refused before any work, unless --force --------
expect 2 "would overwrite the identity database.*--force" \
  "$bin" identify --db "$db" "$photos" -o "$db"
[ "$(digest "$db")" = "$db_before" ] || fail "identify -o DB changed the database"
ln "$db" "$tmp/alias.db"
expect 2 "would overwrite the identity database" \
  "$bin" identify --db "$db" "$photos" -o "$tmp/alias.db"
expect 2 "would overwrite the input .*camera_0.jpg" \
  "$bin" identify --db "$db" "$photos" -o "$photos/camera_0.jpg"
expect 2 "would overwrite the input" \
  "$bin" embed "$photos/camera_0.jpg" -o "$photos/camera_0.jpg"
printf 'camera_0.jpg\tyounes\n' > "$tmp/claims.tsv"
expect 2 "would overwrite the input .*claims.tsv" \
  "$bin" verify --db "$db" --claims "$tmp/claims.tsv" --root "$photos" -o "$tmp/claims.tsv"
printf '%s\t%s\t1\n' "$photos/camera_0.jpg" "$photos/camera_2.jpg" > "$tmp/pairs.tsv"
expect 2 "would overwrite the input .*pairs.tsv" "$bin" pairs "$tmp/pairs.tsv" -o "$tmp/pairs.tsv"
expect 2 "would overwrite the input .*camera_2.jpg" \
  "$bin" pairs "$tmp/pairs.tsv" -o "$photos/camera_2.jpg"
printf '%s\n' "$photos/camera_0.jpg" > "$tmp/list.txt"
expect 2 "would overwrite the input .*list.txt" \
  "$bin" identify --db "$db" --list "$tmp/list.txt" -o "$tmp/list.txt"
[ "$(digest "$photos/camera_0.jpg")" = "$photo_before" ] || fail "an input image was changed"
"$bin" embed --quiet "$photos" -o "$tmp/e.npy" || fail "embed"
expect 2 "would overwrite the input .*e.npy" "$bin" distmat "$tmp/e.npy" -o "$tmp/e.npy"
expect 2 "is the folder of inputs" "$bin" detect --quiet "$photos" --draw "$photos"
expect 2 "is inside the folder of inputs" "$bin" detect --quiet "$photos" --draw "$photos/boxes"
[ ! -e "$photos/boxes" ] || fail "detect created the refused folder"
expect 2 "is the folder of the input" "$bin" detect --quiet "$photos/camera_2.jpg" --chips "$photos"
[ "$(digest "$photos/camera_0.jpg")" = "$photo_before" ] || fail "detect --draw replaced a photo"
# --force: the user's call
cp "$photos/camera_2.jpg" "$tmp/copy.jpg"
expect 0 "" "$bin" identify --quiet --force --db "$db" "$tmp/copy.jpg" "$photos/camera_0.jpg" -o "$tmp/copy.jpg"
grep -q "^path,identity" "$tmp/copy.jpg" || fail "--force did not write the table"

# ---- outputs checked before the first image is decoded ---------------------------------------
cp "$src/tests/data/images/empty.jpg" "$photos/zz_empty.jpg"
for cmd in "identify --db $db $photos -o $tmp/no/such/dir/who.csv" \
           "embed $photos -o $tmp/no/such/dir/e.npy" \
           "distmat $photos -o $tmp/no/such/dir/d.npy" \
           "detect $photos -o $tmp/no/such/dir/faces.csv"; do
  expect 4 "no/such/dir/.*(no such folder|No such file)" $bin $cmd
  grep -q "zz_empty" "$tmp/err" && fail "$cmd: images were read before the output was checked"
  grep -q "\.tmp\." "$tmp/err" && fail "$cmd: the message names a temporary file"
done
expect 4 "no/such/dir/new.db: cannot write in .*no such folder" \
  "$bin" enroll --db "$tmp/no/such/dir/new.db" --name x "$photos"
grep -q "zz_empty\|\.tmp\." "$tmp/err" && fail "enroll read images or named its temporary first"
rm -f "$photos/zz_empty.jpg"
no_temps

# ---- devices and FIFOs ------------------------------------------------------------------------
dev=/dev/null; [ -c /dev/null ] || dev=/dev/zero # something may have replaced this machine's
expect 0 "" "$bin" identify --quiet --db "$db" "$photos" -o "$dev"
[ -c "$dev" ] || fail "identify -o $dev replaced the device"
expect 2 "not a regular file \(a character device\).*embed writes OUT.npy" \
  "$bin" embed --quiet "$photos" -o "$dev"
expect 2 "not a regular file \(a character device\)" "$bin" distmat --quiet "$photos" -o "$dev"
[ -c "$dev" ] && [ ! -e "$dev.paths" ] || fail "embed/distmat -o $dev touched the device or wrote beside it"
mkfifo "$tmp/rows.fifo"
cat "$tmp/rows.fifo" > "$tmp/from_fifo.csv" & reader=$!
expect 0 "" "$bin" identify --quiet --db "$db" "$photos" -o "$tmp/rows.fifo"
wait $reader
[ -p "$tmp/rows.fifo" ] && grep -q "camera_0.jpg" "$tmp/from_fifo.csv" || fail "identify -o FIFO: not streamed"
mkfifo "$tmp/image.jpg" "$tmp/weights.frw" "$tmp/fifo"
expect 4 "image.jpg: not a regular file \(a FIFO\)" "$bin" embed "$tmp/image.jpg" -o "$tmp/f.npy"
expect 4 "weights.frw: not a regular file \(a FIFO\)" \
  "$bin" embed --weights "$tmp/weights.frw" "$photos" -o "$tmp/f.npy"
expect 4 "fifo: not a regular file \(a FIFO\)" "$bin" identify --db "$tmp/fifo" "$photos"
expect 4 "fifo: not a regular file \(a FIFO\)" "$bin" enroll --db "$tmp/fifo" --name x "$photos"

# ---- two-file outputs: one record, checked by sha256sum -c, refused when mixed --------------
mkdir -p "$tmp/set" && "$bin" embed --quiet "$data/happyhouse/database" -o "$tmp/set/e.npy" \
  || fail "embed into set/"
(cd "$tmp/set" && sha256sum --quiet -c e.sha256) || fail "e.sha256 does not check"
[ "$(grep -c '^[0-9a-f]\{64\}  e\.\(npy\|paths\)$' "$tmp/set/e.sha256")" = 2 ] || fail "e.sha256: $(cat "$tmp/set/e.sha256")"
"$bin" distmat --quiet "$photos" "$data/happyhouse/database" -o "$tmp/set/d.npy" || fail "distmat"
(cd "$tmp/set" && sha256sum --quiet -c d.sha256) || fail "d.sha256 does not check"
[ "$(grep -c '  d\.\(npy\|rows\.paths\|cols\.paths\)$' "$tmp/set/d.sha256")" = 3 ] || fail "d.sha256: $(cat "$tmp/set/d.sha256")"
no_temps

# a full disk (a 1 MiB tmpfs, where root may mount one): the old pair stays, whole and matching
mkdir -p "$tmp/full"
if mount -t tmpfs -o size=1m tmpfs "$tmp/full" 2>/dev/null; then
  mounted=1
  "$bin" embed --quiet "$photos" -o "$tmp/full/e.npy" || fail "embed into the small tmpfs"
  old="$(cat "$tmp/full/e.sha256")"
  cat /dev/zero > "$tmp/full/filler" 2>/dev/null # every block taken
  expect 4 "e.(npy|paths|sha256).*(No space|write failed)" \
    "$bin" embed --quiet "$data/happyhouse/database" -o "$tmp/full/e.npy"
  [ "$(cat "$tmp/full/e.sha256")" = "$old" ] && (cd "$tmp/full" && sha256sum --quiet -c e.sha256) \
    || fail "a full disk left a mixed pair"
  [ -z "$(ls "$tmp/full" | grep '\.tmp\.')" ] || fail "a full disk left temporaries"
  umount "$tmp/full" && mounted=
else
  echo "skipped: the full-disk case (cannot mount a tmpfs here)"
fi

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
