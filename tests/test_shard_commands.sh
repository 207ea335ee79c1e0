#!/usr/bin/env bash
# test_shard_commands.sh: identify (probe shards, gallery shards from db split), detect (CSV
# and JSON Lines), pairs (blocks of pairs) and distmat (row blocks) run in shards and merged:
# byte for byte what one run writes. Many whole CLI runs, so labelled heavy (plain pass only).
set -uo pipefail
. "$(dirname "$0")/shard_common.sh"
"$bin" embed --quiet --batch 8 "$johns" -o "$tmp/one.npy" || fail "embed, one run"

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
pxm=(--model pixels --align none) # enroll and pairs take no threshold (refused, not ignored)
"$bin" enroll --quiet "${pxm[@]}" --db "$tmp/px.db" --dir "$tmp/people" || fail "enroll pixels"
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
"$bin" pairs --quiet "${pxm[@]}" "$tmp/pairs.tsv" -o "$tmp/sc.csv" || fail "pairs, one run"
run_shards 3 "$tmp/scs.csv" "$bin" pairs "${pxm[@]}" "$tmp/pairs.tsv"
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

finish test_shard_commands
