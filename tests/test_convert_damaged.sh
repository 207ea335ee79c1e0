#!/usr/bin/env bash
# test_convert_damaged.sh: `facerec convert --from keras-h5` of a file on which libhdf5 itself
# crashes (tests/data/keras/libhdf5_segv.h5, found by fuzz_keras: a variable-length string
# attribute whose global-heap reference is damaged; Debian 12's libhdf5 1.10.8 reads out of
# bounds in H5HG_read) is refused with one line and exit 4, writes nothing and leaves an
# existing output as it was: the HDF5 walk runs in a child process (model/convert_keras.c).
# A refusal from the child's own checks reaches the caller word for word.
set -uo pipefail
bin="${FACEREC_BIN:?}"; src="${FACEREC_SOURCE_DIR:?}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

damaged="$src/tests/data/keras/libhdf5_segv.h5"
timeout 120 "$bin" convert --from keras-h5 "$damaged" -o "$tmp/new.frw" >"$tmp/out" 2>"$tmp/err"
code=$?
last="$(tail -n 1 "$tmp/err")"
[ "$code" = 4 ] || fail "damaged file: exit $code, want 4: $(head -c 600 "$tmp/err")"
case "$last" in
  "facerec convert: $damaged: damaged: the HDF5 library "*"; nothing written") ;;
  *) fail "damaged file: last line: $last" ;;
esac
# one line, unless a sanitizer build's report of the child's crash comes first
grep -q Sanitizer "$tmp/err" || [ "$(wc -l <"$tmp/err")" = 1 ] ||
  fail "damaged file: more than one line: $(cat "$tmp/err")"
[ -s "$tmp/out" ] && fail "damaged file: wrote to stdout: $(head -c 200 "$tmp/out")"
[ -z "$(ls "$tmp" | grep -v -e '^out$' -e '^err$')" ] || fail "left files: $(ls "$tmp")"

# an existing output is left as it was
printf 'previous weights\n' >"$tmp/old.frw"
timeout 120 "$bin" convert --from keras-h5 "$damaged" -o "$tmp/old.frw" >/dev/null 2>&1
[ "$(cat "$tmp/old.frw")" = "previous weights" ] || fail "the existing output was changed"
ls "$tmp" | grep -q checking && fail "a temporary file was left: $(ls "$tmp")"

# a well-formed file of another model: the child's refusal, word for word, exit 4
seed="$src/fuzz/corpus/keras/save_weights_vlen.h5"
timeout 120 "$bin" convert --from keras-h5 "$seed" -o "$tmp/seed.frw" >/dev/null 2>"$tmp/err"
code=$?
[ "$code" = 4 ] || fail "other model: exit $code, want 4"
grep -q "^facerec convert: $seed: the weights made from it do not build a irv1 network.*tensor Conv2d_1a_3x3/kernel has shape (3, 3, 3, 2), the irv1 architecture needs (3, 3, 3, 32)" "$tmp/err" ||
  fail "other model: $(cat "$tmp/err")"
[ -e "$tmp/seed.frw" ] && fail "other model: wrote $tmp/seed.frw"

[ "$failures" = 0 ] && echo "test_convert_damaged: ok"
exit $((failures > 0))
