#!/usr/bin/env bash
# test_detect_bench.sh: bench_detect without images (FACEREC_DATA unset and no ../shared/data
# beside the working directory, a missing --dir, an empty one) says so in one line on stderr
# and exits 1, printing no figures (they were NaN figures for 0 images, exit 0).
set -uo pipefail
bench="$FACEREC_BUILD_DIR/bench/bench_detect"
[ -x "$bench" ] || { echo "bench_detect not built"; exit 77; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
mkdir -p "$tmp/cwd" "$tmp/empty"
check() { # want-in-message command...
  local want="$1"; shift
  (cd "$tmp/cwd" && env -u FACEREC_DATA "$@") >"$tmp/out" 2>"$tmp/err"; local got=$?
  [ "$got" = 1 ] || fail "exit $got (want 1): $*"
  [ -s "$tmp/out" ] && fail "figures printed: $* -- $(head -c 300 "$tmp/out")"
  [ "$(wc -l <"$tmp/err")" = 1 ] || fail "not one line: $* -- $(head -c 400 "$tmp/err")"
  grep -q "^bench_detect: .*$want" "$tmp/err" || fail "message: $* -- $(cat "$tmp/err")"
}
check "../shared/data/lfw_devtrain/images: No such file" "$bench" --count 5 --repeat 1
check "$tmp/missing" "$bench" --dir "$tmp/missing" --count 5
check "no images in $tmp/empty" "$bench" --dir "$tmp/empty" --count 5
[ "$failures" = 0 ] && echo "test_detect_bench: ok" || { echo "test_detect_bench: $failures failed"; exit 1; }
