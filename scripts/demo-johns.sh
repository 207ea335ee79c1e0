#!/usr/bin/env bash
# demo-johns.sh [FACEREC [JOHNS]]: facerec's main job on dlib's five Johns: enrol each from
# three chips into an identity database, then identify every other image of them in one
# batch, on the GPU when there is one and the CPU otherwise. scripts/demo.sh runs it after the
# set-up; installed (share/facerec/demo.sh, beside samples/johns) it is the image's demo.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
facerec="${1:-facerec}"
johns="${2:-$here/samples/johns}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$facerec" info | sed -n '1,4p'
echo
mkdir -p "$work/probes"
for person in "$johns"/*/; do
  name="$(basename "$person")"
  mapfile -t images < <(ls "$person"*.jpg | sort)
  "$facerec" enroll --quiet --db "$work/johns.db" --name "$name" "${images[@]:0:3}"
  mkdir -p "$work/probes/$name"
  cp "${images[@]:3}" "$work/probes/$name/"
done
"$facerec" db list --db "$work/johns.db"
echo
"$facerec" identify --db "$work/johns.db" "$work/probes" -k 2 -o "$work/who.csv"
echo "identify: $(($(wc -l < "$work/who.csv") - 1)) images of people enrolled from 3 images each:"
# columns: path,identity,distance,name_1,distance_1,name_2,distance_2,status,... (-k 2)
awk -F, 'NR > 1 && $8 != "ok" { printf "  %-32s no answer: %s\n", $1, $8; next }
         NR > 1 {
           n = split($1, parts, "/"); truth = parts[n - 1];
           ok = ($2 == truth); right += ok; total++;
           printf "  %-32s %-16s %-16s %.3f%s\n", parts[n - 1] "/" parts[n], truth,
                  ($2 == "" ? "(unknown)" : $2), $3, ok ? "" : "   <- wrong";
         }
         END { printf "%d of %d identified correctly\n", right, total }' "$work/who.csv"
