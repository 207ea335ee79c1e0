#!/usr/bin/env bash
# test_shard.sh: --shard I/N and `facerec merge` as a user meets them, on embed: shards merged
# are byte for byte one run (empty shards, --all-faces, an unreadable image among them); bad
# shard specifications, and missing, repeated, foreign, truncated or altered shards, are
# refused with the file named and nothing overwritten. The other commands' merges are in
# test_shard_commands.sh.
set -uo pipefail
. "$(dirname "$0")/shard_common.sh"

# ---- embed: 55 chips in batches of 8 (7 units) over 3 shards; merged = one run --------------
"$bin" embed --quiet --batch 8 "$johns" -o "$tmp/one.npy" || fail "embed, one run"
run_shards 3 "$tmp/e.npy" "$bin" embed --batch 8 "$johns"
[ "$(wc -l < "$tmp/e-0.paths")" = 24 ] || fail "shard 0/3 of 7 batches should hold 3 of them (24 images)"
expect 0 "3 shards of .embed." "$bin" merge $(shard_files 3 "$tmp/e.npy") -o "$tmp/m.npy"
same "$tmp/m.npy" "$tmp/one.npy" "embed merge"
same "$tmp/m.paths" "$tmp/one.paths" "embed merge"
grep -q '"command":[[:space:]]*"embed"' "$tmp/e-1.npy.manifest.json" || fail "no manifest beside a shard"
# the manifest itself names the shard as well as its output does
expect 0 "" "$bin" merge --quiet "$tmp/e-2.npy.manifest.json" "$tmp/e-0.npy" "$tmp/e-1.npy" -o "$tmp/m2.npy"
same "$tmp/m2.npy" "$tmp/one.npy" "merge of manifests"

# --list: the same list from a file (one run's .paths), each shard keeping only its part; shards
# of the walk and of the list are one job
run_shards 3 "$tmp/el.npy" "$bin" embed --batch 8 --list "$tmp/one.paths"
expect 0 "" "$bin" merge --quiet "$tmp/el-0.npy" "$tmp/e-1.npy" "$tmp/el-2.npy" -o "$tmp/ml.npy"
same "$tmp/ml.npy" "$tmp/one.npy" "merge of --list shards"
printf '%s\n' "$johns/John_Simm/000288_00470387.jpg" 'a\qb' > "$tmp/bad.list"
expect 4 "bad.list: line 2: not a path" "$bin" embed --list "$tmp/bad.list" -o "$tmp/x.npy"
expect 2 "not both" "$bin" embed --list "$tmp/one.paths" "$johns" -o "$tmp/x.npy"
expect 2 "give a file" "$bin" embed --list - -o "$tmp/x.npy"

# more shards than batches: the last ones are empty, and still merge
run_shards 9 "$tmp/e9.npy" "$bin" embed --batch 8 "$johns"
[ "$(wc -c < "$tmp/e9-8.paths")" = 0 ] || fail "shard 8/9 of 7 batches should be empty"
expect 0 "" "$bin" merge --quiet $(shard_files 9 "$tmp/e9.npy") -o "$tmp/m9.npy"
same "$tmp/m9.npy" "$tmp/one.npy" "merge with empty shards"

# --all-faces on photos: the faces table's row numbers continue across shards; an unreadable
# image in one shard is named there (exit 3) and the merge says so too (exit 3), as one run does
cp -r "$tmp/faces" "$tmp/faces-bad"; : > "$tmp/faces-bad/Ab_empty.jpg"
"$bin" embed --quiet --batch 4 --all-faces "$tmp/faces-bad" -o "$tmp/af.npy" 2>/dev/null
[ $? = 3 ] || fail "embed with an empty file: want exit 3"
run_shards 3 "$tmp/afs.npy" "$bin" embed --batch 4 --all-faces "$tmp/faces-bad"
expect 3 "1 inputs failed in the shards" "$bin" merge --quiet $(shard_files 3 "$tmp/afs.npy") -o "$tmp/afm.npy"
for f in afm.npy afm.paths afm.faces.csv; do same "$tmp/$f" "$tmp/af${f#afm}" "all-faces merge"; done

# ---- bad --shard values: usage errors, nothing written --------------------------------------
for bad in 3/2 2/2 0/0 a/b 1/ /2 -1/2 1/2/3 "1 /2" 0x1/2 1/2000000; do
  expect 2 "--shard" "$bin" embed --batch 8 --shard "$bad" "$johns" -o "$tmp/bad.npy"
done
[ -e "$tmp/bad.npy" ] && fail "a refused --shard wrote an output"
expect 2 "needs -o FILE" "$bin" detect --shard 0/2 "$johns"

# ---- shards that are not one job: refused by name, the existing output kept -----------------
cp "$tmp/one.npy" "$tmp/keep.npy"; cp "$tmp/one.paths" "$tmp/keep.paths"
keep() { same "$tmp/keep.npy" "$tmp/one.npy" "$1 (refused merge)"; same "$tmp/keep.paths" "$tmp/one.paths" "$1 (refused merge)"; }
expect 2 "shard 1 of 3 missing" "$bin" merge "$tmp/e-0.npy" "$tmp/e-2.npy" -o "$tmp/keep.npy"; keep missing
expect 2 "e-0.npy and .*e-0.npy are both shard 0 of 3" "$bin" merge "$tmp/e-0.npy" "$tmp/e-0.npy" "$tmp/e-1.npy" "$tmp/e-2.npy" -o "$tmp/keep.npy"; keep repeated
expect 2 "shard 1 of 3, .* shard 0 of 9" "$bin" merge "$tmp/e-1.npy" "$tmp/e9-0.npy" -o "$tmp/keep.npy"; keep "other N"
# another input list: one image more
mkdir -p "$tmp/more"; cp -r "$johns"/* "$tmp/more/"; cp "$tmp/faces/"*_0001.jpg "$tmp/more/"
run_shards 3 "$tmp/o.npy" "$bin" embed --batch 8 --align none "$tmp/more"
expect 2 "list different inputs" "$bin" merge "$tmp/e-0.npy" "$tmp/o-1.npy" "$tmp/e-2.npy" -o "$tmp/keep.npy"; keep "other inputs"
# another result-changing option (the batch: results differ in their last bits)
"$bin" embed --quiet --batch 16 --shard 1/3 "$johns" -o "$tmp/b16-1.npy"
"$bin" embed --quiet --batch 8 --raw --shard 1/3 "$johns" -o "$tmp/raw-1.npy"
expect 2 "made with --batch 8, .*b16-1.npy with --batch 16" "$bin" merge "$tmp/e-0.npy" "$tmp/b16-1.npy" "$tmp/e-2.npy" -o "$tmp/keep.npy"; keep "other batch"
expect 2 "made with --raw off, .*raw-1.npy with --raw on" "$bin" merge "$tmp/e-0.npy" "$tmp/raw-1.npy" "$tmp/e-2.npy" -o "$tmp/keep.npy"; keep "other option"
# another face detector (recorded since 2026-12-03: before, a tiny-detector shard merged
# silently; the default, auto, is recorded as what it stands for: dlib's tiny+mtcnn)
"$bin" embed --quiet --batch 8 --detector tiny --shard 1/3 "$johns" -o "$tmp/tiny-1.npy"
expect 2 "made with --detector tiny.mtcnn, .*tiny-1.npy with --detector tiny" "$bin" merge "$tmp/e-0.npy" "$tmp/tiny-1.npy" "$tmp/e-2.npy" -o "$tmp/keep.npy"; keep "other detector"
# another model
"$bin" embed --quiet --model pixels --align none --batch 8 --shard 1/3 "$johns" -o "$tmp/px-1.npy"
expect 2 "with the model dlib/.*px-1.npy with pixels/" "$bin" merge "$tmp/e-0.npy" "$tmp/px-1.npy" "$tmp/e-2.npy" -o "$tmp/keep.npy"; keep "other model"
# another command's shard
expect 2 "usage|give" "$bin" merge -o "$tmp/keep.npy"

# ---- damaged shards: exit 4 naming the file, nothing written --------------------------------
mkdir -p "$tmp/dmg"
cp "$tmp"/e-[012].* "$tmp/dmg/"
head -c 3000 "$tmp/e-1.npy" > "$tmp/dmg/e-1.npy"
expect 4 "dmg/e-1.npy: 3000 bytes, its manifest says [0-9]+: truncated" "$bin" merge $(shard_files 3 "$tmp/dmg/e.npy") -o "$tmp/keep.npy"; keep truncated
cp "$tmp/e-1.npy" "$tmp/dmg/e-1.npy"
printf '\001' | dd of="$tmp/dmg/e-1.paths" bs=1 seek=5 conv=notrunc 2>/dev/null
expect 4 "dmg/e-1.paths: its content is not what its manifest recorded" "$bin" merge $(shard_files 3 "$tmp/dmg/e.npy") -o "$tmp/keep.npy"; keep altered
[ -z "$(ls "$tmp" | grep '\.tmp\.')" ] || fail "a refused merge left a temporary file"
cp "$tmp/e-1.paths" "$tmp/dmg/e-1.paths"
rm "$tmp/dmg/e-2.npy.manifest.json"
expect 4 "dmg/e-2.npy: no manifest beside it" "$bin" merge $(shard_files 3 "$tmp/dmg/e.npy") -o "$tmp/keep.npy"; keep "no manifest"
head -c 200 "$tmp/e-2.npy.manifest.json" > "$tmp/dmg/e-2.npy.manifest.json"
expect 4 "e-2.npy.manifest.json: not valid JSON" "$bin" merge $(shard_files 3 "$tmp/dmg/e.npy") -o "$tmp/keep.npy"; keep "cut manifest"
sed 's/"first":[[:space:]]*40/"first": 41/' "$tmp/e-2.npy.manifest.json" > "$tmp/dmg/e-2.npy.manifest.json"
expect 4 "inputs \[41, 55\) are not shard 2/3" "$bin" merge $(shard_files 3 "$tmp/dmg/e.npy") -o "$tmp/keep.npy"; keep "edited range"

finish test_shard
