#!/usr/bin/env bash
# test_happyhouse.sh: the seed's office scenario, end to end through the CLI, with the shipped
# dlib model: enrol the 12 people of happyhouse/database, then ask the seed's questions of
# the door camera's images.
#
# What holds, and what does not (dlib on these 96x96 centre crops, no face alignment; L2 on
# normalized embeddings, default threshold 0.417 chosen on LFW DevTrain):
#   camera_0 vs younes   0.262   verified at the default threshold        (tested)
#   camera_2 vs benoit   0.156   camera_2 is benoit (labels.tsv)         (tested)
#   camera_2 vs kian     0.284   the seed expects a refusal; under 0.417 it is let in. No
#                                single threshold both admits camera_0 as younes (0.262) and
#                                refuses camera_2 as kian (0.284) with any margin, and LFW's
#                                0.417 is far from that 0.262..0.284 window. So this test
#                                checks what identification gets right instead: kian is not
#                                camera_2's nearest person, benoit is, by a wide margin.
#   younes.jpg vs younes 0.000   identical image
# Face alignment (MTCNN, in progress) may change these numbers; the seed's refusal is then
# worth testing again.
set -euo pipefail
bin="${FACEREC_BIN:?}"
data="${FACEREC_DATA:?}/happyhouse"
[ -f "${FACEREC_WEIGHTS:?}/dlib.frw" ] || { echo "no dlib weights (weights/fetch.sh)"; exit 77; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check DESCRIPTION COMMAND...: the command must succeed
    if ! ( eval "$2" ); then echo "FAILED: $1"; fail=1; else echo "ok: $1"; fi
}
db="$tmp/office.db"

"$bin" enroll --quiet --db "$db" --dir "$data/database"
check "12 people enrolled, one embedding each" \
    '[ "$("$bin" db list --db "$db" --json | grep -c "\"embeddings\": 1")" = 12 ]'

out="$("$bin" verify --db "$db" --name younes "$data/camera/camera_0.jpg")" && code=0 || code=$?
echo "$out"
check "camera_0 verifies as younes (exit 0)" '[ $code = 0 ] && [[ "$out" == "It'"'"'s younes, welcome in!"* ]]'

out="$("$bin" identify --db "$db" "$data/camera/camera_0.jpg")" && code=0 || code=$?
echo "$out"
check "who_is_it(camera_0) is younes" '[ $code = 0 ] && [[ "$out" == "it'"'"'s younes, the distance is "* ]]'

out="$("$bin" identify --db "$db" "$data/database/younes.jpg")" && code=0 || code=$?
echo "$out"
check "who_is_it(younes.jpg) is younes at distance ~0" \
    '[ $code = 0 ] && [[ "$out" == "it'"'"'s younes, the distance is 0.00"* ]]'

# every camera image the seed names, identified in bulk (labels.tsv: camera_0 younes,
# camera_1 bertrand, camera_2 benoit)
"$bin" identify --quiet --db "$db" "$data/camera" -k 3 -o "$tmp/who.csv"
cat "$tmp/who.csv"
for row in camera_0.jpg,younes camera_1.jpg,bertrand camera_2.jpg,benoit; do
    check "identify: ${row/,/ is }" "grep -q '/${row},' '$tmp/who.csv'"
done

# camera_2 claiming to be kian: kian is further than benoit, and not the nearest
printf 'image\tname\ncamera_2.jpg\tkian\ncamera_2.jpg\tbenoit\ncamera_0.jpg\tyounes\n' > "$tmp/claims.tsv"
"$bin" verify --quiet --db "$db" --claims "$tmp/claims.tsv" --root "$data/camera" -o "$tmp/claims.csv"
cat "$tmp/claims.csv"
check "one row per claim" '[ "$(wc -l < "$tmp/claims.csv")" = 4 ]'
kian="$(grep ',kian,' "$tmp/claims.csv" | cut -d, -f3)"
benoit="$(grep ',benoit,' "$tmp/claims.csv" | cut -d, -f3)"
check "camera_2 is nearer benoit ($benoit) than kian ($kian), by more than 0.1" \
    "awk 'BEGIN { exit !($kian - $benoit > 0.1) }'"
check "camera_0 as younes: verified in bulk too" "grep -q 'camera_0.jpg,younes,.*,true$' '$tmp/claims.csv'"

# the seed's threshold for its own model is 0.7; a threshold given on the command line wins:
# at 0.2 even camera_0 is turned away (exit 1, the seed's second message)
out="$("$bin" verify --db "$db" --name younes --threshold 0.2 "$data/camera/camera_0.jpg")" && code=0 || code=$?
echo "$out"
check "--threshold 0.2 refuses camera_0 (exit 1)" \
    '[ $code = 1 ] && [[ "$out" == "It'"'"'s not younes, please go away"* ]]'
out="$("$bin" identify --db "$db" --threshold 0.2 "$data/camera/camera_0.jpg")" && code=0 || code=$?
check "--threshold 0.2: camera_0 is not in the database (exit 1)" \
    '[ $code = 1 ] && [ "$out" = "Not in the database." ]'

# --aggregate mean with one image per person: the same answers
out="$("$bin" identify --db "$db" --aggregate mean "$data/camera/camera_0.jpg")"
check "--aggregate mean: camera_0 is younes" '[[ "$out" == "it'"'"'s younes"* ]]'
exit $fail
