#!/usr/bin/env bash
# test_shard.sh: --shard I/N and `facerec merge` as a user meets them: every bulk command run in
# parts and merged gives, byte for byte, the files one run writes; bad shard specifications,
# missing, repeated, foreign, truncated or altered shards are refused with the file named and
# nothing overwritten.
set -uo pipefail
bin="${FACEREC_BIN:?}"; data="${FACEREC_DATA:?}"; src="${FACEREC_SOURCE_DIR:?}"
[ -f "${FACEREC_WEIGHTS:?}/dlib.frw" ] || { echo "no dlib weights (weights/fetch.sh)"; exit 77; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
failures=0
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

# same_outputs A B SUFFIX...: A<suffix> and B<suffix> equal byte for byte for each suffix
same_outputs() {
  local a="$1" b="$2"; shift 2
  for sfx in "$@"; do same "$a$sfx" "$b$sfx" "$(basename "$a$sfx")"; done
}

# ---- identify: probes in shards, the gallery in databases ---------------------------------
# the same embeddings in one database and split in three (db split copies them bit for bit);
# -k 3 in CSV and JSON (its candidates name their nearest image)
"$bin" enroll --quiet --db "$tmp/all.db" --dir "$johns" || fail "enroll"
expect 0 "5 people .* in 3 databases" "$bin" db split --db "$tmp/all.db" 3 "$tmp/g.db"
for f in csv jsonl; do
  "$bin" identify --quiet --db "$tmp/all.db" "$johns" -k 3 -o "$tmp/id.$f"
  "$bin" identify --quiet --db "$tmp/g-2.db" --db "$tmp/g-0.db" --db "$tmp/g-1.db" "$johns" -k 3 -o "$tmp/idg.$f"
  same "$tmp/idg.$f" "$tmp/id.$f" "identify against 3 gallery shards ($f)"
done
expect 2 "'John_Salley' is in .*g-0.db and .*all.db" "$bin" identify --db "$tmp/g-0.db" --db "$tmp/all.db" "$johns" -o "$tmp/x.csv"
expect 2 "exists: nothing written" "$bin" db split --db "$tmp/all.db" 3 "$tmp/g.db"
# probe shards are cut at the distance engine's probe block (512 on the CPU) and the batch:
# 1600 LFW photos with the pixels baseline (no network) make 4 blocks over 3 shards, against
# gallery shards; merged, they are the single run against the whole gallery
mkdir -p "$tmp/probes" "$tmp/people"
find "$lfw" -name '*.jpg' | sort | head -1600 | while read -r f; do ln -s "$f" "$tmp/probes/$(basename "$f")"; done
for d in Aaron_Peirsol Abdullah Adam_Sandler Ahmed_Chalabi Ai_Sugiyama Al_Gore Al_Sharpton Alastair_Campbell; do
  ln -s "$lfw/$d" "$tmp/people/$d"
done
px=(--model pixels --align none --threshold 0.55)
"$bin" enroll --quiet "${px[@]}" --db "$tmp/px.db" --dir "$tmp/people" || fail "enroll pixels"
"$bin" db split --quiet --model pixels --db "$tmp/px.db" 2 "$tmp/pxg.db" || fail "db split pixels"
"$bin" identify --quiet "${px[@]}" --db "$tmp/px.db" -k 2 "$tmp/probes" -o "$tmp/pid.csv" || fail "identify, one run"
run_shards 3 "$tmp/pids.csv" "$bin" identify "${px[@]}" --db "$tmp/pxg-1.db" --db "$tmp/pxg-0.db" -k 2 "$tmp/probes"
[ "$(grep -c . "$tmp/pids-0.csv")" = 1025 ] || fail "identify shard 0/3 should hold 2 probe blocks (1024 rows)"
expect 0 "" "$bin" merge --quiet $(shard_files 3 "$tmp/pids.csv") -o "$tmp/pidm.csv"
same "$tmp/pidm.csv" "$tmp/pid.csv" "identify merge"
expect 2 "the shards are CSV" "$bin" merge $(shard_files 3 "$tmp/pids.csv") -o "$tmp/pidm.jsonl"
"$bin" identify --quiet "${px[@]}" --db "$tmp/px.db" -k 3 --shard 1/3 "$tmp/probes" -o "$tmp/k3-1.csv"
expect 2 "made with --db .*, .*k3-1.csv with --db|made with --k 2, .*with --k 3" "$bin" merge "$tmp/pids-0.csv" "$tmp/k3-1.csv" "$tmp/pids-2.csv" -o "$tmp/x.csv"

# ---- detect: groups of 4 photos; the CSV header once ---------------------------------------
"$bin" detect --quiet "$tmp/faces" -o "$tmp/det.csv" || fail "detect, one run"
run_shards 3 "$tmp/dets.csv" "$bin" detect "$tmp/faces"
expect 0 "" "$bin" merge --quiet $(shard_files 3 "$tmp/dets.csv") -o "$tmp/detm.csv"
same "$tmp/detm.csv" "$tmp/det.csv" "detect merge (CSV)"
"$bin" detect --quiet "$tmp/faces" -o "$tmp/det.jsonl"
run_shards 2 "$tmp/detj.jsonl" "$bin" detect "$tmp/faces"
expect 0 "" "$bin" merge --quiet $(shard_files 2 "$tmp/detj.jsonl") -o "$tmp/detjm.jsonl"
same "$tmp/detjm.jsonl" "$tmp/det.jsonl" "detect merge (JSON Lines)"

# ---- pairs: blocks of 4096 pairs; 9000 pairs of 400 photos over 3 shards -------------------
find "$lfw" -name '*.jpg' | sort | head -400 > "$tmp/pool"
awk 'BEGIN { srand(7) } { p[NR] = $0 } END { for (i = 0; i < 9000; i++) {
       a = p[int(rand() * NR) + 1]; b = p[int(rand() * NR) + 1]; print a "\t" b "\t" (i % 2) } }' \
  "$tmp/pool" > "$tmp/pairs.tsv"
"$bin" pairs --quiet "${px[@]}" "$tmp/pairs.tsv" -o "$tmp/sc.csv" || fail "pairs, one run"
run_shards 3 "$tmp/scs.csv" "$bin" pairs "${px[@]}" "$tmp/pairs.tsv"
[ "$(grep -c . "$tmp/scs-0.csv")" = 4097 ] || fail "pairs shard 0/3 should hold one block of 4096"
expect 0 "" "$bin" merge --quiet $(shard_files 3 "$tmp/scs.csv") -o "$tmp/scm.csv"
same "$tmp/scm.csv" "$tmp/sc.csv" "pairs merge"

# ---- distmat: row blocks, from a .npy and from two image sets ------------------------------
"$bin" distmat --quiet "$tmp/one.npy" -o "$tmp/D.npy" || fail "distmat, one run"
run_shards 4 "$tmp/Ds.npy" "$bin" distmat "$tmp/one.npy"
expect 0 "" "$bin" merge --quiet $(shard_files 4 "$tmp/Ds.npy") -o "$tmp/Dm.npy"
same "$tmp/Dm.npy" "$tmp/D.npy" "distmat merge (symmetric, .npy)"
"$bin" distmat --quiet --batch 8 "$johns/John_Simm" "$johns/John_Salley" -o "$tmp/E.npy" || fail "distmat images"
run_shards 3 "$tmp/Es.npy" "$bin" distmat --batch 8 "$johns/John_Simm" "$johns/John_Salley"
expect 0 "" "$bin" merge --quiet $(shard_files 3 "$tmp/Es.npy") -o "$tmp/Em.npy"
same_outputs "$tmp/Em" "$tmp/E" .npy .rows.paths .cols.paths

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
printf 'x' | dd of="$tmp/dmg/e-1.paths" bs=1 seek=5 conv=notrunc 2>/dev/null
expect 4 "dmg/e-1.paths: its content is not what its manifest recorded" "$bin" merge $(shard_files 3 "$tmp/dmg/e.npy") -o "$tmp/keep.npy"; keep altered
[ -z "$(ls "$tmp" | grep '\.tmp\.')" ] || fail "a refused merge left a temporary file"
cp "$tmp/e-1.paths" "$tmp/dmg/e-1.paths"
rm "$tmp/dmg/e-2.npy.manifest.json"
expect 4 "dmg/e-2.npy: no manifest beside it" "$bin" merge $(shard_files 3 "$tmp/dmg/e.npy") -o "$tmp/keep.npy"; keep "no manifest"
head -c 200 "$tmp/e-2.npy.manifest.json" > "$tmp/dmg/e-2.npy.manifest.json"
expect 4 "e-2.npy.manifest.json: not valid JSON" "$bin" merge $(shard_files 3 "$tmp/dmg/e.npy") -o "$tmp/keep.npy"; keep "cut manifest"
sed 's/"first":[[:space:]]*40/"first": 41/' "$tmp/e-2.npy.manifest.json" > "$tmp/dmg/e-2.npy.manifest.json"
expect 4 "inputs \[41, 55\) are not shard 2/3" "$bin" merge $(shard_files 3 "$tmp/dmg/e.npy") -o "$tmp/keep.npy"; keep "edited range"

[ "$failures" = 0 ] && echo "test_shard: all checks passed" || { echo "test_shard: $failures failed"; exit 1; }
