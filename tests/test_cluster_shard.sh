#!/usr/bin/env bash
# test_cluster_shard.sh: `cluster --shard I/N` as a user meets it. Each shard computes its share
# of the threshold graph's tiles; `facerec merge` joins the parts into what `--shard 0/1`
# writes, byte for byte; `cluster --graph` then gives the single run's table byte for byte, for
# every method, from a .npy (2500 synthetic faces: 3 row blocks of the CPU engine's 1024, so 6
# tiles, shared out unevenly, with an empty shard when there are more shards than tiles) and
# from images (dlib's Johns, embedded by every shard). Parts of another threshold or other
# faces, missing, truncated or altered parts, and a graph given to the wrong faces are refused
# by name, with an existing output left as it was.
set -uo pipefail
. "$(dirname "$0")/shard_common.sh"

/usr/bin/python3 - "$tmp/x.npy" "$tmp/y.npy" <<'PY' || { echo "numpy missing"; exit 77; }
import sys
import numpy as np
rng = np.random.default_rng(7)
centres = rng.normal(size=(250, 128))
centres /= np.linalg.norm(centres, axis=1, keepdims=True)
# people of 10 faces (same-person distances ~0.32); every tenth person's last four faces
# a chain towards the next person (steps ~0.3), so that single linkage joins the two and
# average linkage does not
x = centres[np.repeat(np.arange(250), 10)] + rng.normal(scale=0.02, size=(2500, 128))
for p in range(0, 249, 10):
    for k, s in enumerate((0.2, 0.4, 0.6, 0.8)):
        x[10 * p + 6 + k] = (1 - s) * centres[p] + s * centres[p + 1]
x /= np.linalg.norm(x, axis=1, keepdims=True)
np.save(sys.argv[1], x.astype(np.float32))
x[17, 0] += 1e-3  # other faces: one value changed
np.save(sys.argv[2], x.astype(np.float32))
PY
t=(--threshold 0.428 --quiet)

# ---- a .npy: 4 and 7 shards (6 tiles), merged = --shard 0/1; --graph = one run ------------------
for m in whispers components average; do
  "$bin" cluster "$tmp/x.npy" "${t[@]}" --method $m -o "$tmp/one-$m.csv" || fail "one run, $m"
done
"$bin" cluster "$tmp/x.npy" "${t[@]}" --shard 0/1 -o "$tmp/g01.csv" || fail "--shard 0/1"
run_shards 4 "$tmp/g.csv" "$bin" cluster "$tmp/x.npy" --threshold 0.428
expect 0 "4 shards of .cluster. over 6 inputs" "$bin" merge $(shard_files 4 "$tmp/g.csv") -o "$tmp/g.csv"
same_outputs "$tmp/g.csv" "$tmp/g01.csv" "" .graph.json
edges=$(($(wc -l < "$tmp/g01.csv") - 1))
[ "$edges" -gt 2500 ] || fail "the graph has $edges edges: too few to be a test"
shard_edges=0
for i in 0 1 2 3; do shard_edges=$((shard_edges + $(wc -l < "$tmp/g-$i.csv") - 1)); done
[ "$shard_edges" = "$edges" ] || fail "the shards hold $shard_edges edges, the whole graph $edges"
run_shards 7 "$tmp/h.csv" "$bin" cluster "$tmp/x.npy" --threshold 0.428
[ "$(wc -l < "$tmp/h-6.csv")" = 1 ] || fail "shard 6/7 of 6 tiles should hold the header alone"
expect 0 "" "$bin" merge --quiet $(shard_files 7 "$tmp/h.csv") -o "$tmp/h.csv"
same "$tmp/h.csv" "$tmp/g01.csv" "7 shards merged"
for m in whispers components average; do
  expect 0 "" "$bin" cluster "$tmp/x.npy" --quiet --graph "$tmp/g.csv" --method $m -o "$tmp/from-$m.csv"
  same "$tmp/from-$m.csv" "$tmp/one-$m.csv" "--method $m from the merged graph"
done
cmp -s "$tmp/one-components.csv" "$tmp/one-average.csv" && fail "components and average agree: the chains did not chain"
grep -q '"command":[[:space:]]*"cluster"' "$tmp/g-1.csv.manifest.json" || fail "no manifest beside a shard"

# ---- images: every shard embeds the Johns, the graph's one tile goes to shard 0 -----------------
"$bin" cluster "$johns" --quiet -o "$tmp/johns.csv" || fail "the Johns, one run"
run_shards 2 "$tmp/gj.csv" "$bin" cluster "$johns"
expect 0 "" "$bin" merge --quiet "$tmp/gj-1.csv" "$tmp/gj-0.csv" -o "$tmp/gj.csv"
expect 0 "55 faces -> 5 clusters .*read from" "$bin" cluster "$johns" --graph "$tmp/gj.csv" -o "$tmp/johns-g.csv"
same "$tmp/johns-g.csv" "$tmp/johns.csv" "the Johns from their merged graph"

# ---- refused, by name, the output kept -----------------------------------------------------------
cp "$tmp/one-average.csv" "$tmp/keep.csv"
kept() { same "$tmp/keep.csv" "$tmp/one-average.csv" "$1 (refused)"; }
expect 2 "shard 1 of 4 missing" "$bin" merge "$tmp/g-0.csv" "$tmp/g-2.csv" "$tmp/g-3.csv" -o "$tmp/keep.csv"; kept missing
"$bin" cluster "$tmp/x.npy" --quiet --threshold 0.4 --shard 1/4 -o "$tmp/k-1.csv" || fail "shard at 0.4"
expect 2 "made with --threshold 0.428.*0.4" "$bin" merge "$tmp/g-0.csv" "$tmp/k-1.csv" "$tmp/g-2.csv" "$tmp/g-3.csv" -o "$tmp/keep.csv"; kept "another threshold"
"$bin" cluster "$tmp/y.npy" --quiet --threshold 0.428 --shard 1/4 -o "$tmp/y-1.csv" || fail "shard of other faces"
expect 2 "list different inputs" "$bin" merge "$tmp/g-0.csv" "$tmp/y-1.csv" "$tmp/g-2.csv" "$tmp/g-3.csv" -o "$tmp/keep.csv"; kept "other faces"
cp "$tmp/g-2.csv" "$tmp/g-2.saved"; head -c 100 "$tmp/g-2.saved" > "$tmp/g-2.csv"
expect 4 "g-2.csv: .*truncated" "$bin" merge $(shard_files 4 "$tmp/g.csv") -o "$tmp/keep.csv"; kept truncated
cp "$tmp/g-2.saved" "$tmp/g-2.csv"
expect 2 "g.csv is the graph of 2500 faces .*another set of faces" \
  "$bin" cluster "$tmp/y.npy" --graph "$tmp/g.csv" -o "$tmp/keep.csv"; kept "a graph of other faces"
expect 2 "--threshold 0.3: .*g.csv is the graph at 0.428 " \
  "$bin" cluster "$tmp/x.npy" --threshold 0.3 --graph "$tmp/g.csv" -o "$tmp/keep.csv"; kept "another threshold for --graph"
cp "$tmp/g.csv" "$tmp/e.csv"; cp "$tmp/g.csv.graph.json" "$tmp/e.csv.graph.json"
sed -i '2s/,[^,]*$/,0.001/' "$tmp/e.csv"
expect 4 "e.csv: line 2: faces .* apart, not 0.001" "$bin" cluster "$tmp/x.npy" --graph "$tmp/e.csv" -o "$tmp/keep.csv"; kept "an altered graph (no record)"
cp "$tmp/g.csv.sha256" "$tmp/e.csv.sha256"; sed -i 's/g\.csv/e.csv/' "$tmp/e.csv.sha256"
expect 4 "e.csv" "$bin" cluster "$tmp/x.npy" --graph "$tmp/e.csv" -o "$tmp/keep.csv"; kept "an altered graph"
rm -f "$tmp/e.csv.sha256"; printf 'a,b,distance\n5,3,0.1\n' > "$tmp/e.csv"
expect 4 "e.csv: line 2 is not an edge" "$bin" cluster "$tmp/x.npy" --graph "$tmp/e.csv" -o "$tmp/keep.csv"; kept "a backward edge"
{ echo a,b,distance; sed -n 2p "$tmp/g.csv"; sed -n 2p "$tmp/g.csv"; } > "$tmp/e.csv"
expect 4 "listed twice" "$bin" cluster "$tmp/x.npy" --graph "$tmp/e.csv" -o "$tmp/keep.csv"; kept "a repeated edge"
expect 4 "no graph description beside it" "$bin" cluster "$tmp/x.npy" --graph "$tmp/one-average.csv" -o "$tmp/keep.csv"; kept "not a graph"
expect 2 "--graph belongs to the run that clusters it" \
  "$bin" cluster "$tmp/x.npy" --shard 0/2 --graph "$tmp/g.csv" -o "$tmp/keep.csv"; kept "--shard with --graph"
expect 2 "needs -o FILE" "$bin" cluster "$tmp/x.npy" --threshold 0.428 --shard 0/2 -o -
finish test_cluster_shard
