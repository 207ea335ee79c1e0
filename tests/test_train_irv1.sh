#!/usr/bin/env bash
# test_train_irv1.sh: `facerec train` on irv1's path, whose head is the bottleneck and its
# batch norm (trained in training mode, population statistics recomputed), with the
# random-weight Keras file test_irv1_keras makes (the trained weights are not available
# here): the trained file loads, embeds, differs from the base in the bottleneck's four
# tensors only, and repeats bit for bit. Labelled heavy: writing the random .h5 takes ~40 s.
set -euo pipefail
bin="${FACEREC_BIN:?}"
py="${FACEREC_PYTHON:?}"
data="${FACEREC_DATA:?}"
src="${FACEREC_SOURCE_DIR:?}"
"$py" -c 'import numpy, h5py' 2>/dev/null || { echo "no numpy/h5py for $py"; exit 77; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { if ( eval "$2" ); then echo "ok: $1"; else echo "FAILED: $1"; fail=1; fi; }

"$py" "$src/tests/ref/keras_irv1/make_h5.py" --model-json "$data/keras-facenet/model.json" \
    --layout weights --seed 7 -o "$tmp/irv1.h5" > /dev/null
"$bin" convert --from keras-h5 "$tmp/irv1.h5" -o "$tmp/irv1.frw" > /dev/null
train=("$bin" train --weights "$tmp/irv1.frw" --dir "$data/dlib_johns" --align none
       --cache "$tmp/cache" --epochs 2 --people 5 --faces 6 --val 0 --lr 0.01)
ok "train irv1's bottleneck and batch norm" '"${train[@]}" -o "$tmp/a.frw" 2> "$tmp/log"'
cat "$tmp/log"
ok "... again: the same bytes" '"${train[@]}" --quiet -o "$tmp/b.frw" && cmp -s "$tmp/a.frw" "$tmp/b.frw"'
ok "the trained file embeds" \
    '"$bin" embed --quiet --weights "$tmp/a.frw" --align none "$data/dlib_johns/John_Simm" -o "$tmp/e.npy"'
"$py" - "$tmp/irv1.frw" "$tmp/a.frw" > "$tmp/diff" <<'PY' || fail=1
import struct, sys, numpy as np
def tensors(path):
    d = open(path, "rb").read()
    version = struct.unpack("<I", d[8:12])[0]
    data_offset, nmeta, ntensors = struct.unpack("<QQQ", d[16:40])
    off = 40 if version == 1 else 72  # format 2 has its checksum at 40..72
    def s():
        nonlocal off
        n = struct.unpack("<I", d[off:off + 4])[0]; off += 4 + n
        return d[off - n:off].decode()
    for _ in range(nmeta):
        s(); t = struct.unpack("<I", d[off:off + 4])[0]; off += 4
        if t == 0: s()
        else: off += 8
    out = {}
    for _ in range(ntensors):
        name = s(); _, ndim = struct.unpack("<II", d[off:off + 8]); off += 8
        dims = struct.unpack("<%dQ" % ndim, d[off:off + 8 * ndim]); off += 8 * ndim
        o = struct.unpack("<Q", d[off:off + 8])[0]; off += 8
        n = int(np.prod(dims)) if ndim else 1
        out[name] = np.frombuffer(d, np.float32, n, data_offset + o)
    return out
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
changed = sorted(k for k in a if not np.array_equal(a[k], b[k]))
print(" ".join(changed))
PY
ok "only the bottleneck's tensors changed" \
    '[ "$(cat "$tmp/diff")" = "Bottleneck/kernel Bottleneck_BatchNorm/beta Bottleneck_BatchNorm/moving_mean Bottleneck_BatchNorm/moving_variance" ]'
exit $fail
