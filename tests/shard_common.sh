# shard_common.sh: what test_shard.sh and test_shard_commands.sh share (sourced): a temporary
# folder, checks that count failures, running a command in N shards, and the sample images.
bin="${FACEREC_BIN:?}"; data="${FACEREC_DATA:?}"; src="${FACEREC_SOURCE_DIR:?}"
[ -f "${FACEREC_WEIGHTS:?}/dlib.frw" ] || { echo "no dlib weights (weights/fetch.sh)"; exit 77; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
failures=0
finish() { [ "$failures" = 0 ] && echo "$1: all checks passed" || { echo "$1: $failures failed"; exit 1; }; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# expect CODE PATTERN COMMAND...: exit code CODE and stderr matching the extended regex PATTERN
expect() {
  local want="$1" pattern="$2"; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
  if [ "$got" != "$want" ] || { [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$tmp/err"; }; then
    fail "exit $got (want $want, stderr /$pattern/): $* -- $(head -c 600 "$tmp/err")"
  fi
}
same() { cmp -s "$1" "$2" || fail "$3: $1 differs from $2"; }

# run_shards N OUT COMMAND ARGS...: COMMAND ARGS --shard i/N -o OUT-i.EXT for every i
run_shards() {
  local n="$1" out="$2"; shift 2
  local stem="${out%.*}" ext="${out##*.}" i code
  for ((i = 0; i < n; i++)); do
    "$@" --quiet --shard "$i/$n" -o "$stem-$i.$ext" 2>"$tmp/shard-err"; code=$?
    [ "$code" = 0 ] || [ "$code" = 3 ] || fail "shard $i/$n of $*: exit $code: $(tail -3 "$tmp/shard-err")"
  done
}
# shard_files N OUT: the shards' main outputs, last first (merge takes them in any order)
shard_files() {
  local n="$1" out="$2" i
  for ((i = n - 1; i >= 0; i--)); do printf '%s\n' "${out%.*}-$i.${out##*.}"; done
}

johns="$src/samples/johns"          # 55 dlib chips: no detection, so fast
lfw="$data/lfw_devtrain/images"
mkdir -p "$tmp/faces"                # 18 LFW photos: detection and alignment on the way
for d in Aaron_Peirsol Abdullah Adam_Sandler Ahmed_Chalabi Ai_Sugiyama Al_Gore; do
  cp "$lfw/$d/"*_000[1-3].jpg "$tmp/faces/" || { echo "LFW images missing under $lfw"; exit 77; }
done

# same_outputs A B SUFFIX...: A<suffix> and B<suffix> equal byte for byte for each suffix
same_outputs() {
  local a="$1" b="$2"; shift 2
  for sfx in "$@"; do same "$a$sfx" "$b$sfx" "$(basename "$a$sfx")"; done
}

