#!/usr/bin/env bash
# test_decode_budget.sh: the decode memory budget seen from the CLI (issue 14.6). Four 196 KB
# all-zero 8000 x 8000 PNGs (192 MB each decoded) on two decode threads: without a budget both
# threads hold one at once (peak RSS 560 MB over a 240 MB floor here); with
# FACEREC_DECODE_MEMORY=250 the second waits, so the peak stays within the floor plus the
# budget. A bad FACEREC_DECODE_MEMORY is refused naming it. Labelled heavy: ASan's shadow
# memory and quarantine make RSS mean something else.
set -uo pipefail
bin="$FACEREC_BIN"; py="$FACEREC_PYTHON"; src="$FACEREC_SOURCE_DIR"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

mkdir "$tmp/four"
"$py" - "$tmp/four/z1.png" <<'PY'
import struct, sys, zlib
w = h = 8000
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
raw = (b"\0" * (1 + w * 3)) * h
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
PY
for i in 2 3 4; do cp "$tmp/four/z1.png" "$tmp/four/z$i.png"; done

peak_kb() { # env... -- the peak RSS of an embed run, in KB
  env "$@" /usr/bin/time -f "%M" -o "$tmp/rss" "$bin" embed --quiet --threads 2 --align none \
    "$tmp/four" -o "$tmp/e.npy" >/dev/null 2>"$tmp/err" || fail "embed failed: $(cat "$tmp/err")"
  cat "$tmp/rss"
}
floor=$(env /usr/bin/time -f "%M" -o "$tmp/rss" "$bin" embed --quiet --threads 2 --align none \
  "$src/tests/data/images/rgb422.jpg" -o "$tmp/f.npy" >/dev/null 2>&1; cat "$tmp/rss")
budgeted=$(peak_kb FACEREC_DECODE_MEMORY=250)
[ "$("$py" -c "import numpy as np; print(np.load('$tmp/e.npy').shape[0])")" = 4 ] ||
  fail "with a 250 MiB budget not every image was embedded"
# one image at a time (192 MB decoded, and the resize): under 220 MB over the floor; two at
# once (no budget, 320 MB here) is over
[ "$budgeted" -lt $((floor + 220 * 1024)) ] ||
  fail "FACEREC_DECODE_MEMORY=250: peak RSS $budgeted KB over a floor of $floor KB (want < +220 MB)"
echo "floor $floor KB, FACEREC_DECODE_MEMORY=250: $budgeted KB"

FACEREC_DECODE_MEMORY=lots "$bin" embed --quiet "$tmp/four" -o "$tmp/x.npy" 2>"$tmp/err"
code=$?
[ "$code" = 2 ] && grep -q "FACEREC_DECODE_MEMORY=lots" "$tmp/err" ||
  fail "FACEREC_DECODE_MEMORY=lots: exit $code: $(cat "$tmp/err")"
[ ! -e "$tmp/x.npy" ] || fail "an output was written despite the bad budget"

[ "$failures" = 0 ] && echo "ok: test_decode_budget" || exit 1
