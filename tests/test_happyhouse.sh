#!/usr/bin/env bash
# test_happyhouse.sh: the seed's office scenario, end to end through the CLI, with the shipped
# dlib model: enrol the 12 people of happyhouse/database, then ask the seed's questions of
# the door camera's images.
#
# Distances (L2 between normalized embeddings; default threshold 0.428, chosen on LFW DevTrain):
#                          aligned (default:    --align none (96x96 crops as they are)
#                          68-point dlib chips)
#   camera_0 vs younes           0.194               0.262
#   camera_0, nearest other      0.413 arnaud        0.365 kevin
#   camera_2 vs benoit           0.230               0.156   (who camera_2 is: labels.tsv)
#   camera_2 vs kian             0.514               0.284   (whom camera_2 claims to be)
#   younes.jpg vs younes         0.000               0.000
# With alignment every answer is the seed's. Without it, camera_2 claiming to be kian is let in
# at 0.428 (no threshold both admits camera_0 as younes and refuses camera_2 as kian with any
# margin: the window is 0.262..0.284), so there this test checks only what holds: who is who.
set -euo pipefail
bin="${FACEREC_BIN:?}"
data="${FACEREC_DATA:?}/happyhouse"
[ -f "${FACEREC_WEIGHTS:?}/dlib.frw" ] || { echo "no dlib weights (weights/fetch.sh)"; exit 77; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check DESCRIPTION CONDITION: the condition (shell code) must hold
    if ( eval "$2" ); then echo "ok: $1"; else echo "FAILED: $1"; fail=1; fi
}
db="$tmp/office.db"
cam="$data/camera"

"$bin" enroll --quiet --db "$db" --dir "$data/database"
check "12 people enrolled, one embedding each" \
    '[ "$("$bin" db list --db "$db" --json | grep -c "\"embeddings\": 1")" = 12 ]'

# ---- the seed's verify() and who_is_it() ---------------------------------------------------------
out="$("$bin" verify --db "$db" --name younes "$cam/camera_0.jpg")" && code=0 || code=$?
echo "$out"
check "camera_0 verifies as younes (exit 0)" \
    '[ $code = 0 ] && [[ "$out" == "It'"'"'s younes, welcome in!"* ]]'

out="$("$bin" verify --db "$db" --name kian "$cam/camera_2.jpg")" && code=0 || code=$?
echo "$out"
check "camera_2 claiming to be kian is refused (exit 1)" \
    '[ $code = 1 ] && [[ "$out" == "It'"'"'s not kian, please go away"* ]]'

out="$("$bin" identify --db "$db" "$cam/camera_0.jpg")" && code=0 || code=$?
echo "$out"
check "who_is_it(camera_0) is younes" \
    '[ $code = 0 ] && [[ "$out" == "it'"'"'s younes, the distance is "* ]]'

out="$("$bin" identify --db "$db" "$data/database/younes.jpg")" && code=0 || code=$?
echo "$out"
check "who_is_it(younes.jpg) is younes at distance ~0" \
    '[ $code = 0 ] && [[ "$out" == "it'"'"'s younes, the distance is 0.00"* ]]'

# ---- the same in bulk ------------------------------------------------------------------------------
# every camera image the seed names (labels.tsv: camera_0 younes, camera_1 bertrand, camera_2
# benoit), identified in one run
"$bin" identify --quiet --db "$db" "$cam" -k 3 -o "$tmp/who.csv"
cat "$tmp/who.csv"
for row in camera_0.jpg,younes camera_1.jpg,bertrand camera_2.jpg,benoit; do
    check "identify: ${row/,/ is }" "grep -q '/${row},' '$tmp/who.csv'"
done
printf 'image\tname\ncamera_2.jpg\tkian\ncamera_2.jpg\tbenoit\ncamera_0.jpg\tyounes\n' > "$tmp/claims.tsv"
"$bin" verify --quiet --db "$db" --claims "$tmp/claims.tsv" --root "$cam" -o "$tmp/claims.csv"
cat "$tmp/claims.csv"
check "one row per claim" '[ "$(wc -l < "$tmp/claims.csv")" = 4 ]'
check "claims: camera_2 as kian false, as benoit true, camera_0 as younes true" \
    "grep -q 'camera_2.jpg,kian,.*,false,ok,' '$tmp/claims.csv' &&
     grep -q 'camera_2.jpg,benoit,.*,true,ok,' '$tmp/claims.csv' &&
     grep -q 'camera_0.jpg,younes,.*,true,ok,' '$tmp/claims.csv'"

# ---- options that change the answer ------------------------------------------------------------------
out="$("$bin" verify --db "$db" --name younes --threshold 0.15 "$cam/camera_0.jpg")" && code=0 || code=$?
check "--threshold 0.15 refuses camera_0 (exit 1)" \
    '[ $code = 1 ] && [[ "$out" == "It'"'"'s not younes, please go away"* ]]'
out="$("$bin" identify --db "$db" --threshold 0.15 "$cam/camera_0.jpg")" && code=0 || code=$?
check "--threshold 0.15: camera_0 is not in the database (exit 1)" \
    '[ $code = 1 ] && [[ "$out" =~ ^"Not in the database (nearest: younes, 0."[0-9]+" >= 0.150)."$ ]]'
out="$("$bin" identify --db "$db" --aggregate mean "$cam/camera_0.jpg")"
check "--aggregate mean (one image each: the same answer): camera_0 is younes" \
    '[[ "$out" == "it'"'"'s younes"* ]]'

# ---- without alignment: identification still right, kian still further than benoit ----------------
"$bin" enroll --quiet --align none --db "$tmp/crops.db" --dir "$data/database"
"$bin" identify --quiet --align none --db "$tmp/crops.db" "$cam" -o "$tmp/who_crops.csv"
for row in camera_0.jpg,younes camera_1.jpg,bertrand camera_2.jpg,benoit; do
    check "--align none: ${row/,/ is }" "grep -q '/${row},' '$tmp/who_crops.csv'"
done
"$bin" verify --quiet --align none --db "$tmp/crops.db" --claims "$tmp/claims.tsv" --root "$cam" \
    -o "$tmp/claims_crops.csv"
kian="$(grep ',kian,' "$tmp/claims_crops.csv" | cut -d, -f3)"
benoit="$(grep ',benoit,' "$tmp/claims_crops.csv" | cut -d, -f3)"
check "--align none: camera_2 is nearer benoit ($benoit) than kian ($kian), by more than 0.1" \
    "awk 'BEGIN { exit !($kian - $benoit > 0.1) }'"
exit $fail
