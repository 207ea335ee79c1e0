#!/usr/bin/env bash
# test_cli_usage.sh: the command line's own messages (issue 9, "Smaller" and item 7). An unknown
# option or command is one line with the nearest name ("did you mean --threshold?"), not the
# whole help; a missing value names the option. identify on one image with -k names the nearest
# person when the face is unknown and lists candidates 1..k; -o keeps the exit code's meaning.
# A folder walk names the files it skipped for their extension, once, instead of silently.
set -uo pipefail
bin="${FACEREC_BIN:?}"; data="${FACEREC_DATA:?}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# expect CODE PATTERN COMMAND...: exit code CODE, and stderr of ONE line matching PATTERN
expect_line() {
  local want="$1" pattern="$2"; shift 2
  timeout 60 "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
  if [ "$got" != "$want" ] || ! grep -Eq -- "$pattern" "$tmp/err" || [ "$(wc -l < "$tmp/err")" != 1 ]; then
    fail "exit $got (want $want, one stderr line /$pattern/): $* -- $(head -c 400 "$tmp/err")"
  else
    echo "ok: $(cat "$tmp/err")"
  fi
}

# ---- unknown options and commands: one line, the nearest name ----------------------------------
expect_line 2 "^facerec identify: unknown option --treshold; did you mean --threshold\?$" \
  "$bin" identify --treshold 0.5 x.jpg
expect_line 2 "^facerec embed: unknown option --outptu; did you mean --output\?$" \
  "$bin" embed --outptu e.npy x.jpg
expect_line 2 "^facerec verify: unknown option --calims; did you mean --claims\?$" \
  "$bin" verify --calims c.tsv
expect_line 2 "^facerec merge: unknown option --ouput; did you mean --output\?$" \
  "$bin" merge --ouput x a b
expect_line 2 "^facerec db: unknown option --jsn; did you mean --json\?$" "$bin" db list --jsn
expect_line 2 "^facerec eval: unknown option --fodls; did you mean --folds\?$" "$bin" eval --fodls 3 s.csv
expect_line 2 "unknown option --zzzzzz \(facerec embed --help lists the options\)" \
  "$bin" embed --zzzzzz
expect_line 2 "^facerec identify: --db needs a value" "$bin" identify --db
expect_line 2 "^facerec embed: -o \(--output\) needs a value$" "$bin" embed -o
expect_line 2 "^facerec embed: --quiet takes no value" "$bin" embed --quiet=1 x.jpg -o e.npy
expect_line 2 "^facerec convert: unknown option -z" "$bin" convert -z
# the common options may come before --version and --help too (they change nothing there)
[ "$("$bin" --quiet --version 2>&1)" = "$("$bin" --version)" ] || fail "facerec --quiet --version: $("$bin" --quiet --version 2>&1 | head -1)"
"$bin" --device cpu --quiet --help 2>&1 | head -1 | grep -q "^usage: facerec COMMAND" || fail "facerec --device cpu --quiet --help"
expect_line 2 "^facerec: --bogus before the command is not one of the common options" "$bin" --quiet --bogus x
expect_line 2 "^facerec: unknown command 'indentify'; did you mean identify\?$" "$bin" indentify
expect_line 2 "^facerec: unknown command 'zzzzzz' \(facerec --help lists the commands\)$" "$bin" zzzzzz
# the common options before the command are the command's (one parser: the command's own)
expect_line 2 "^facerec: --threshold 9: give a distance in \(0, 4\]$" \
  "$bin" --quiet --threshold 9 identify --db x.db x.jpg
expect_line 2 "^facerec: --bogus before the command is not one of the common options" \
  "$bin" --quiet --bogus identify x.jpg
expect_line 2 "^facerec: no command after the options" "$bin" --quiet --model dlib
expect_line 2 "^facerec merge: unknown option --device" "$bin" --device cpu merge -o x a b
# options that were accepted and ignored: refused
expect_line 2 "^facerec embed: --json: embed writes a .npy" "$bin" embed --json x.jpg -o e.npy
expect_line 2 "^facerec enroll: --json: enroll writes no rows" "$bin" enroll --json --db x.db --name a x.jpg
expect_line 2 "^facerec detect: --threshold: a distance threshold" "$bin" detect --threshold 0.5 x.jpg
expect_line 2 "^facerec db: --json: only db list prints rows" "$bin" db remove --json --db x.db someone

# ---- wording: "the other 1 fold", thresholds as written --------------------------------------
{ echo "path1,path2,same,distance,fold"
  for i in 1 2 3 4 5 6 7 8; do echo "a$i.jpg,b$i.jpg,$((i % 2)),0.$((i % 2 ? 3 : 6)),"; done; } > "$tmp/s.csv"
"$bin" eval --folds 2 "$tmp/s.csv" > "$tmp/out" 2>&1 || fail "eval --folds 2: $(cat "$tmp/out")"
grep -q "on the other 1 fold)" "$tmp/out" || fail "eval --folds 2: $(grep accuracy "$tmp/out")"
if [ -f "${FACEREC_WEIGHTS:?}/dlib.frw" ]; then
  "$bin" info --json | grep -Eq '"threshold":[[:space:]]*0\.428[,}]' || fail "info --json: $("$bin" info --json | grep -o '"threshold[^,]*' | head -1)"
fi

# ---- identify one image with -k: the nearest person named, candidates 1..k ---------------------
if [ -f "${FACEREC_WEIGHTS:?}/dlib.frw" ]; then
  db="$tmp/office.db"
  "$bin" enroll --quiet --db "$db" --dir "$data/happyhouse/database" || fail "enroll"
  cam="$data/happyhouse/camera/camera_0.jpg"
  "$bin" identify --db "$db" --threshold 0.15 -k 3 "$cam" > "$tmp/out" 2>/dev/null; code=$?
  [ "$code" = 1 ] || fail "identify -k 3 unknown: exit $code"
  head -1 "$tmp/out" | grep -Eq "^Not in the database \(nearest: younes, 0\.[0-9]+ >= 0\.150\)\.$" \
    || fail "identify -k 3 unknown: $(head -1 "$tmp/out")"
  [ "$(sed -n 2p "$tmp/out" | grep -Ec '^  1\. younes, distance 0\.[0-9]+$')" = 1 ] \
    && [ "$(grep -c '^  [0-9]\. ' "$tmp/out")" = 3 ] || fail "identify -k 3: not candidates 1..3: $(cat "$tmp/out")"
  "$bin" identify --db "$db" -k 3 "$cam" > "$tmp/out" 2>/dev/null || fail "identify -k 3 known"
  # --quiet before the command is the command's: no summary line, the same rows
  # (a folder: one run's summary line, "identify: 2 images ...", is what --quiet drops)
  mkdir -p "$tmp/two"; cp "$cam" "$tmp/two/a.jpg"; cp "$cam" "$tmp/two/b.jpg"
  "$bin" --quiet identify --db "$db" "$tmp/two" > "$tmp/rows" 2>"$tmp/err"
  [ "$(grep -c "two/[ab].jpg,younes," "$tmp/rows")" = 2 ] && [ ! -s "$tmp/err" ] ||
    fail "facerec --quiet identify: $(cat "$tmp/rows" "$tmp/err")"
  head -1 "$tmp/out" | grep -q "^it's younes" && [ "$(grep -c '^  [23]\. ' "$tmp/out")" = 2 ] \
    || fail "identify -k 3 known: $(cat "$tmp/out")"
  # -o: the row goes to the file, the exit code still says whether it was identified
  "$bin" identify --quiet --db "$db" --threshold 0.15 "$cam" -o "$tmp/who.csv"; code=$?
  [ "$code" = 1 ] && grep -q "camera_0.jpg,," "$tmp/who.csv" || fail "identify -o, unknown: exit $code"
  "$bin" identify --quiet --db "$db" "$cam" -o "$tmp/who.csv" || fail "identify -o, known: exit $?"

  # ---- exit codes: one image that cannot be read is 3 in identify as in verify; nothing to
  # work on at all (missing paths, empty folders) is 4 in every command -------------------------
  code_of() { timeout 60 "$@" >/dev/null 2>"$tmp/err"; echo $?; }
  [ "$(code_of "$bin" identify --db "$db" "$tmp/nope.jpg")" = 3 ] || fail "identify nope.jpg: $(cat "$tmp/err")"
  grep -q "nope.jpg: No such file" "$tmp/err" || fail "identify nope.jpg: $(cat "$tmp/err")"
  [ "$(code_of "$bin" verify --db "$db" --name younes "$tmp/nope.jpg")" = 3 ] || fail "verify nope.jpg"
  [ "$(code_of "$bin" identify --db "$db" "$tmp/nope.jpg" -o "$tmp/w.csv")" = 3 ] || fail "identify nope.jpg -o"
  mkdir -p "$tmp/empty"
  for cmd in "identify --db $db" "embed -o $tmp/e.npy" "detect" "distmat -o $tmp/d.npy" \
             "cluster -o $tmp/c.csv"; do
    for where in "$tmp/empty" "$tmp/nowhere/"; do
      [ "$(code_of $bin $cmd "$where")" = 4 ] && grep -q "no images found" "$tmp/err" \
        || fail "$cmd $where: not 4 'no images found': $(cat "$tmp/err")"
    done
  done
else
  echo "skipped: identify (no dlib weights)"
fi

# ---- folder walks name what they skip: once, by extension (hidden files are not counted) ------
mkdir -p "$tmp/mixed/sub" "$tmp/junk" "$tmp/people/ann"
photo="$data/lfw_devtrain/images/Aaron_Peirsol/Aaron_Peirsol_0001.jpg"
cp "$photo" "$tmp/mixed/a.JPG"
touch "$tmp/mixed/b.webp" "$tmp/mixed/sub/c.webp" "$tmp/mixed/sub/d.BMP" "$tmp/mixed/README" \
      "$tmp/mixed/.DS_Store" "$tmp/junk/x.webp" "$tmp/people/notes.txt" "$tmp/people/ann/b.gif"
cp "$photo" "$tmp/people/ann/a.jpg"
# expect_skipped CODE PATTERN COMMAND...: exit CODE, and exactly one stderr line "skipped ..."
expect_skipped() {
  local want="$1" pattern="$2"; shift 2
  timeout 60 "$@" >/dev/null 2>"$tmp/err"; local got=$?
  if [ "$got" != "$want" ] || [ "$(grep -c "skipped" "$tmp/err")" != 1 ] ||
     ! grep -Eq -- "$pattern" "$tmp/err"; then
    fail "exit $got (want $want, one line /$pattern/): $* -- $(head -c 400 "$tmp/err")"
  else
    echo "ok: $(grep skipped "$tmp/err")"
  fi
}
expect_skipped 0 "^facerec embed: skipped 4 files with unsupported extensions: \.webp \(2\), \.bmp \(1\), no extension \(1\) \(images are \.jpg \.jpeg \.png\)$" \
  "$bin" embed --model pixels --align none "$tmp/mixed" -o "$tmp/m.npy"
expect_skipped 4 "^facerec detect: skipped 1 file with an unsupported extension: \.webp \(1\) " \
  "$bin" detect "$tmp/junk"
grep -q "no images found" "$tmp/err" || fail "detect junk/: $(cat "$tmp/err")"
expect_skipped 0 "^facerec enroll: skipped 2 files with unsupported extensions: \.gif \(1\), \.txt \(1\) " \
  "$bin" enroll --model pixels --align none --db "$tmp/px.db" --dir "$tmp/people"
expect_skipped 0 "^facerec distmat: skipped 4 files " \
  "$bin" distmat --model pixels --align none "$tmp/mixed" -o "$tmp/d.npy"
"$bin" embed --model pixels --align none "$tmp/people/ann" -o "$tmp/a.npy" 2>"$tmp/err" \
  && grep -q "skipped 1 file with an unsupported extension: \.gif (1)" "$tmp/err" \
  || fail "embed people/ann: $(cat "$tmp/err")"
"$bin" embed --model pixels --align none "$photo" -o "$tmp/p.npy" 2>"$tmp/err" \
  && ! grep -q skipped "$tmp/err" || fail "embed one photo: $(cat "$tmp/err")"

# --quiet keeps the notice off stderr, as it does progress and the summary
"$bin" embed --quiet --model pixels --align none "$tmp/mixed" -o "$tmp/q.npy" 2>"$tmp/err" \
  && [ ! -s "$tmp/err" ] || fail "embed --quiet of a mixed folder wrote to stderr: $(cat "$tmp/err")"


# ---- per-command help lists only what the command takes; the rest is refused, not ignored -----
# COMMAND OPTION...: --help does not list them (the other commands' help does)
not_listed() {
  local command="$1"; shift
  "$bin" "$command" --help >"$tmp/help" 2>&1 || fail "$command --help"
  for option in "$@"; do
    grep -Eq -- "^  --$option( |$)" "$tmp/help" && fail "$command --help lists --$option"
  done
  grep -Eq -- "^  --quiet " "$tmp/help" || fail "$command --help lost --quiet"
}
not_listed embed threshold json
not_listed enroll threshold json all-faces
not_listed distmat threshold json all-faces
not_listed pairs threshold json all-faces
not_listed train threshold all-faces flip
not_listed detect threshold flip jitter
for command in identify verify; do
  "$bin" "$command" --help >"$tmp/help" 2>&1
  for option in threshold json all-faces face; do
    grep -Eq -- "^  --$option( |$)" "$tmp/help" || fail "$command --help should list --$option"
  done
done
for pair in "embed threshold 0.3" "enroll threshold 0.3" "distmat threshold 0.3" \
    "pairs threshold 0.3" "train threshold 0.3" "distmat json" "pairs json"; do
  set -- $pair
  expect_line 2 "^facerec $1: --$2: $1 does not take it \(facerec $1 --help lists its options\)$" \
    "$bin" "$1" "--$2" ${3:+"$3"} "$tmp/none.jpg" -o "$tmp/none.out"
done
[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
