#!/usr/bin/env bash
# test_flip.sh: --flip, each face's embedding averaged with its mirror image's, against a
# reference made outside the engine: the chips mirrored by Pillow, written to disk, embedded
# as they are (--raw), and averaged in numpy; on 150x150 chips (--align none) and on the
# chips the default alignment cuts (`detect --chips`). Then: the same numbers whatever the
# batch (a face and its mirror per runner batch of 2, an image's faces split across chunks)
# and thread count, failed inputs in place; every embedding command takes --flip and uses it;
# --help says what it does; detect refuses it.
set -uo pipefail
bin="$FACEREC_BIN"; data="$FACEREC_DATA"; py="$FACEREC_PYTHON"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_code() { # expected command...
  local want="$1"; shift
  "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
  [ "$got" = "$want" ] || fail "exit $got (want $want): $* -- $(head -c 400 "$tmp/err")"
}
"$py" -c "import numpy, PIL" 2>/dev/null || { echo "numpy and Pillow needed for the reference"; exit 77; }
# max |a - b| under 1e-5, same shapes (float32 sums of 128 terms: ~1e-7 apart at most)
same_numbers() {
  "$py" -c "import numpy as np,sys; a,b=np.load(sys.argv[1]),np.load(sys.argv[2]); sys.exit(not (a.shape==b.shape and np.abs(a-b).max()<1e-5))" "$1" "$2"
}

# (a) 150x150 chips: 12 dlib_johns chips and their mirrors as lossless PNGs
mkdir -p "$tmp/chips" "$tmp/mirrored"
"$py" - "$data/dlib_johns" "$tmp/chips" "$tmp/mirrored" <<'EOF'
import glob, sys
from PIL import Image, ImageOps
src, chips, mirrored = sys.argv[1:]
for f in sorted(glob.glob(f"{src}/*/*.jpg"))[::4][:12]:
    im = Image.open(f).convert("RGB")
    assert im.size == (150, 150), f
    name = f.split("/")[-1][:-4] + ".png"
    im.save(f"{chips}/{name}")
    ImageOps.mirror(im).save(f"{mirrored}/{name}")
EOF
expect_code 0 "$bin" embed --quiet --align none --raw "$tmp/chips" -o "$tmp/chip_raw.npy"
expect_code 0 "$bin" embed --quiet --align none --raw "$tmp/mirrored" -o "$tmp/mirror_raw.npy"
expect_code 0 "$bin" embed --quiet --align none --flip "$tmp/chips" -o "$tmp/chip_flip.npy"
expect_code 0 "$bin" embed --quiet --align none --flip --raw "$tmp/chips" -o "$tmp/chip_flip_raw.npy"
cmp -s "$tmp/chip_raw.paths" <(sed "s#/mirrored/#/chips/#" "$tmp/mirror_raw.paths") || fail "chips and mirrors in another order"
"$py" - "$tmp" <<'EOF' || fail "--flip on 150x150 chips differs from the mirrored chips' embeddings averaged in numpy"
import sys, numpy as np
t = sys.argv[1]
chip, mirror = (np.load(f"{t}/{n}.npy").astype(np.float64) for n in ("chip_raw", "mirror_raw"))
unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)
flip, flip_raw = np.load(f"{t}/chip_flip.npy"), np.load(f"{t}/chip_flip_raw.npy")
assert flip.shape == flip_raw.shape == (12, 128)
# the mirror is another input: its embedding is near, not equal (else this test shows nothing)
assert np.linalg.norm(unit(chip) - unit(mirror), axis=1).min() > 0.02
err = np.abs(flip - unit(unit(chip) + unit(mirror))).max()
err_raw = np.abs(flip_raw - (chip + mirror) / 2).max()
print(f"150x150 chips: normalized {err:.2e}, raw {err_raw:.2e}")
assert err < 1e-5 and err_raw < 1e-5
EOF

# (a) aligned: the chips the default alignment cuts (detect --chips: every face of two LFW
# images side by side, three faces, and of three single faces), mirrored by Pillow
lfw="$data/lfw_devtrain/images"
mkdir -p "$tmp/in"
"$py" - "$lfw" "$tmp/in" <<'EOF'
import sys, numpy as np
from PIL import Image
lfw, out = sys.argv[1:]
a = np.asarray(Image.open(f"{lfw}/AJ_Cook/AJ_Cook_0001.jpg"))
b = np.asarray(Image.open(f"{lfw}/Boris_Becker/Boris_Becker_0001.jpg"))
Image.fromarray(np.hstack([a, b])).save(f"{out}/b_pair.png")
Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(f"{out}/c_flat.png")
EOF
cp "$lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg" "$tmp/in/a_aaron.jpg"
cp "$lfw/Monica_Seles/Monica_Seles_0001.jpg" "$tmp/in/d_monica.jpg"
echo "not an image" > "$tmp/in/e_text.jpg"
cp "$lfw/Colin_Powell/Colin_Powell_0001.jpg" "$tmp/in/f_colin.jpg"
expect_code 3 "$bin" detect --quiet "$tmp/in" -o "$tmp/faces.csv" --chips "$tmp/cut"
mkdir -p "$tmp/cut_mirrored"
"$py" - "$tmp/cut" "$tmp/cut_mirrored" <<'EOF'
import glob, sys
from PIL import Image, ImageOps
for f in glob.glob(sys.argv[1] + "/*.png"):
    ImageOps.mirror(Image.open(f)).save(sys.argv[2] + "/" + f.split("/")[-1])
EOF
expect_code 0 "$bin" embed --quiet --raw "$tmp/cut" -o "$tmp/cut_raw.npy"
expect_code 0 "$bin" embed --quiet --raw "$tmp/cut_mirrored" -o "$tmp/cut_mirror_raw.npy"
# unreadable and faceless inputs among them: named, left out, exit 3
expect_code 3 "$bin" embed --quiet --all-faces --flip "$tmp/in" -o "$tmp/all_flip.npy"
grep -q "c_flat.png.*no face" "$tmp/err" || fail "the faceless input not named: $(cat "$tmp/err")"
grep -q "e_text.jpg" "$tmp/err" || fail "the unreadable input not named: $(cat "$tmp/err")"
expect_code 3 "$bin" embed --quiet --all-faces "$tmp/in" -o "$tmp/all_plain.npy"
"$py" - "$tmp" <<'EOF' || fail "--flip on aligned faces differs from their mirrored chips' embeddings averaged in numpy"
import csv, sys, numpy as np
t = sys.argv[1]
unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)
def by_name(stem):
    e = np.load(f"{t}/{stem}.npy").astype(np.float64)
    return {p.strip().split("/")[-1]: row for p, row in zip(open(f"{t}/{stem}.paths"), e)}
chip, mirror = by_name("cut_raw"), by_name("cut_mirror_raw")
rows = list(csv.DictReader(open(f"{t}/all_flip.faces.csv")))
flip, plain = np.load(f"{t}/all_flip.npy"), np.load(f"{t}/all_plain.npy")
assert len(rows) == flip.shape[0] == plain.shape[0] == 6, (len(rows), flip.shape)  # 3 + 1 + 1 + 1
ref = []
for r in rows:
    name = "%s.face%s.png" % (r["path"].split("/")[-1], r["face"])
    ref.append(unit(unit(chip[name][None]) + unit(mirror[name][None]))[0])
err = np.abs(flip - np.array(ref)).max()
moved = np.linalg.norm(flip - plain, axis=1)
print(f"aligned faces: {err:.2e}; flipped vs plain {moved.min():.3f}..{moved.max():.3f}")
assert err < 1e-5 and moved.min() > 0.01
EOF

# (b) the same numbers whatever the batch and thread count. Chips: batch 1 (planned as 2), 2
# and 3 (one chip and its mirror per runner batch), 5 (two chips and their mirrors). Aligned
# inputs (6: a failed decode and a faceless image among them): batch 4 (two faces per chunk:
# the pair's three split, failures between), 6 (three), 8. The detector takes the inputs of
# one batch 4 at a time, and other groups would move boxes by ~3e-5 px, which can change a
# chip's rounding (docs/alignment.md): these batches keep the default's groups.
for run in "--batch 1 --threads 1" "--batch 2 --threads 2" "--batch 3 --threads 1" "--batch 5 --threads 2"; do
  name=chips$(echo "$run" | tr -d ' -')
  # shellcheck disable=SC2086
  expect_code 0 "$bin" embed --quiet --align none --flip $run "$tmp/chips" -o "$tmp/$name.npy"
  same_numbers "$tmp/chip_flip.npy" "$tmp/$name.npy" || fail "--flip $run on chips gives other embeddings than the default batch"
done
for run in "--batch 4 --threads 1" "--batch 4 --threads 2" "--batch 6 --threads 2" "--batch 8 --threads 1"; do
  name=aligned$(echo "$run" | tr -d ' -')
  # shellcheck disable=SC2086
  expect_code 3 "$bin" embed --quiet --all-faces --flip $run "$tmp/in" -o "$tmp/$name.npy"
  same_numbers "$tmp/all_flip.npy" "$tmp/$name.npy" || fail "--flip $run gives other embeddings than the default batch"
  cmp -s "$tmp/all_flip.faces.csv" "$tmp/$name.faces.csv" || fail "--flip $run: other rows or faces"
done

# (c) every embedding command takes --flip and uses it: its distances are those of the
# flipped embeddings (6 decimals printed), not of the plain ones. Three people's 150x150
# chips, taken as they are (no detection, whose grouping differs between commands: see (b)).
mkdir -p "$tmp/three"
cp "$data/dlib_johns/John_Salley/000179_02159509.jpg" "$tmp/three/a_salley.jpg"
cp "$data/dlib_johns/John_Savage/000274_01099061.jpg" "$tmp/three/b_savage.jpg"
cp "$data/dlib_johns/John_Simm/000288_00470387.jpg" "$tmp/three/c_simm.jpg"
salley="$tmp/three/a_salley.jpg"; savage="$tmp/three/b_savage.jpg"; simm="$tmp/three/c_simm.jpg"
expect_code 0 "$bin" embed --quiet --flip "$tmp/three" -o "$tmp/three_flip.npy"
expect_code 0 "$bin" embed --quiet "$tmp/three" -o "$tmp/three_plain.npy"
printf '%s\t%s\t0\n%s\t%s\t0\n%s\t%s\t0\n' "$salley" "$savage" "$savage" "$simm" "$salley" "$simm" > "$tmp/pairs.tsv"
expect_code 0 "$bin" pairs --quiet --flip "$tmp/pairs.tsv" -o "$tmp/pairs.csv"
expect_code 0 "$bin" distmat --quiet --flip "$tmp/three" -o "$tmp/d.npy"
expect_code 0 "$bin" enroll --quiet --flip --db "$tmp/people.db" --name salley "$salley"
expect_code 0 "$bin" enroll --quiet --flip --db "$tmp/people.db" --name savage "$savage"
printf '%s\tsalley\n%s\tsavage\n' "$simm" "$simm" > "$tmp/claims.tsv"
expect_code 0 "$bin" verify --quiet --flip --db "$tmp/people.db" --claims "$tmp/claims.tsv" -o "$tmp/verify.csv"
expect_code 0 "$bin" identify --quiet --flip --db "$tmp/people.db" -k 2 "$simm" "$salley" -o "$tmp/identify.csv"
"$py" - "$tmp" <<'EOF' || fail "pairs, distmat, enroll, verify or identify do not use the flipped embeddings"
import csv, sys, numpy as np
t = sys.argv[1]
who = lambda path: path.strip().split("/")[-1].split("_")[1].split(".")[0]  # a_salley.jpg -> salley
def load(stem):
    e = np.load(f"{t}/{stem}.npy").astype(np.float64)
    return {who(p): row for p, row in zip(open(f"{t}/{stem}.paths"), e)}
flip, plain = load("three_flip"), load("three_plain")
assert sorted(flip) == ["salley", "savage", "simm"], sorted(flip)
def check(what, a, b, got):
    want, other = np.linalg.norm(flip[a] - flip[b]), np.linalg.norm(plain[a] - plain[b])
    assert abs(got - want) < 2e-6 and abs(got - other) > 1e-4, (what, a, b, got, want, other)
pairs = list(csv.DictReader(open(f"{t}/pairs.csv")))
assert len(pairs) == 3
for r in pairs:
    check("pairs", who(r["path1"]), who(r["path2"]), float(r["distance"]))
d = np.load(f"{t}/d.npy")
names = [who(p) for p in open(f"{t}/d.rows.paths")]
assert d.shape == (3, 3) and sorted(names) == sorted(flip)
for i in range(3):
    for j in range(3):
        if i != j:
            check("distmat", names[i], names[j], d[i, j])
claims = list(csv.DictReader(open(f"{t}/verify.csv")))
assert len(claims) == 2
for r in claims:
    check("verify", "simm", r["name"], float(r["distance"]))
rows = {who(r["path"]): r for r in csv.DictReader(open(f"{t}/identify.csv"))}
for k in (1, 2):  # enrolled with --flip: the database holds the flipped embeddings
    check("identify", "simm", rows["simm"][f"name_{k}"], float(rows["simm"][f"distance_{k}"]))
# salley against herself, both flipped: 0 up to the expanded form's rounding (match/distance.h:
# sqrt of a few float32 ulps of |a|^2 + |b|^2 - 2ab, 6.9e-4 for 4 ulps), far below the 0.06 of
# a flipped query against a plain enrolment; 1e-6 held only while last bits happened to cancel
assert rows["salley"]["identity"] == "salley" and float(rows["salley"]["distance"]) < 2e-3
print("pairs, distmat, enroll, verify and identify: the flipped embeddings' distances")
EOF
# a database enrolled with --flip answers queries without it (docs/alignment.md: the two
# embeddings of a face lie 0.065 apart, median on LFW, and mixing costs no accuracy there)
expect_code 0 "$bin" identify --quiet --db "$tmp/people.db" "$salley"
grep -q "it's salley" "$tmp/out" || fail "a plain query of an enrolled face against a --flip database: $(cat "$tmp/out")"

# --help documents it for every embedding command; detect has no network to flip
for cmd in embed enroll verify identify distmat pairs; do
  expect_code 0 "$bin" "$cmd" --help
  grep -q -- "--flip .*mirror" "$tmp/out" || fail "$cmd --help does not document --flip"
  grep -q -- "--raw: the mean of the two raw outputs" "$tmp/out" || fail "$cmd --help: --flip with --raw not explained"
done
expect_code 2 "$bin" detect --flip "$tmp/three"
grep -q -- "--flip" "$tmp/err" || fail "detect --flip: the refusal does not name --flip"

[ "$failures" = 0 ] && echo "test_flip: all passed" || echo "test_flip: $failures failed"
exit $((failures > 0))
