#!/usr/bin/env bash
# test_cluster_cli.sh: `facerec cluster` from the outside: dlib's five Johns come out as five
# clusters that match their folders exactly (images, and the .npy embed writes with its
# .paths), the table and summary say what they should, and bad input gives one clear line
# and leaves an existing output as it was.
set -euo pipefail
bin="${FACEREC_BIN:?}"
data="${FACEREC_DATA:?}"
[ -f "${FACEREC_WEIGHTS:?}/dlib.frw" ] || { echo "no dlib weights (weights/fetch.sh)"; exit 77; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
johns="$data/dlib_johns"
. "$(dirname "$0")/cli_checks.sh"

for m in whispers components average; do
    expect "cluster --method $m: the Johns" 0 \
        "55 faces -> 5 clusters .*the largest of 11; 0 singletons;BCubed precision 1.0000, recall 1.0000" \
        "$bin" cluster "$johns" --method $m --truth folder -o "$tmp/$m.csv" --summary "$tmp/$m.json"
done
ok "the table: a header and one row per face, clusters 0..4" \
    '[ "$(head -1 "$tmp/whispers.csv")" = "path,face,cluster" ] && [ "$(wc -l < "$tmp/whispers.csv")" = 56 ] &&
     [ "$(tail -n +2 "$tmp/whispers.csv" | cut -d, -f3 | sort -u | tr "\n" " ")" = "0 1 2 3 4 " ]'
ok "each folder is one cluster" \
    '[ "$(tail -n +2 "$tmp/whispers.csv" | sed "s|.*/\(John_[A-Za-z]*\)/[^,]*,|\1,|" | cut -d, -f1,3 | sort -u | wc -l)" = 5 ]'
ok "the summary JSON" 'grep -q "\"clusters\":	5" "$tmp/average.json" && grep -q "\"bcubed_f1\":	1" "$tmp/average.json"'

"$bin" embed --quiet "$johns" -o "$tmp/johns.npy"
expect "cluster a .npy of embeddings (rows named by its .paths)" 0 "55 faces -> 5 clusters" \
    "$bin" cluster "$tmp/johns.npy" --truth folder -o "$tmp/npy.csv"
ok "... the same table as from the images (the default method: average)" 'cmp -s "$tmp/average.csv" "$tmp/npy.csv"'
expect "--min-size 12: every John below it" 0 "0 clusters .*55 faces in clusters under --min-size 12" \
    "$bin" cluster "$tmp/johns.npy" --min-size 12 -o "$tmp/min.csv"
ok "... all labelled -1" '[ "$(tail -n +2 "$tmp/min.csv" | cut -d, -f3 | sort -u)" = "-1" ]'
expect "a tiny threshold: every face alone but one near-duplicate pair" 0 "54 clusters .*53 singletons" \
    "$bin" cluster "$tmp/johns.npy" --threshold 0.01 -o "$tmp/tiny.csv"
expect "JSON Lines" 0 "" "$bin" cluster "$tmp/johns.npy" --quiet -o "$tmp/c.jsonl"
ok "... one object per face" 'grep -c "{\"path\":.*\"face\":-1,\"cluster\":[0-4]}" "$tmp/c.jsonl" | grep -qx 55'

out="$tmp/kept.csv"
echo "earlier" > "$out"
kept="$(digest "$out")"
"$bin" embed --quiet --model pixels "$johns/John_Simm" -o "$tmp/pixels.npy"
expect "the pixels baseline has no threshold" 2 "no default threshold: give --threshold" \
    "$bin" cluster "$tmp/pixels.npy" --model pixels -o "$out"
echo "not numpy" > "$tmp/bad.npy"
expect "a .npy that is not embeddings" 4 "bad.npy" \
    "$bin" cluster "$tmp/bad.npy" -o "$out"
expect "a missing folder" 4 "nowhere" "$bin" cluster "$tmp/nowhere" -o "$out"
mkdir "$tmp/blank"
expect "a folder without images" 4 "no images found" "$bin" cluster "$tmp/blank" -o "$out"
expect "a bad --method" 2 "--method single: choose whispers, components or average" \
    "$bin" cluster "$tmp/johns.npy" --method single -o "$out"
expect "a bad --min-size" 2 "--min-size 0: give a whole number from 1" \
    "$bin" cluster "$tmp/johns.npy" --min-size 0 -o "$out"
ok "... the output untouched by all of them" '[ "$(digest "$out")" = "$kept" ]'
exit $fail
