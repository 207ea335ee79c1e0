#!/usr/bin/env bash
# scripts/demo.sh: set up a fresh machine (scripts/setup.sh) and run facerec's main job on the
# bundled sample images: enrol dlib's five Johns (samples/johns, three chips each) into an
# identity database, then identify every other image of them in one batch, on the GPU when
# there is one and the CPU otherwise.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
facerec="$root/build/facerec"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$facerec" info | sed -n '1,4p'
echo
mkdir -p "$work/probes"
for person in "$root"/samples/johns/*/; do
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
awk -F, 'NR > 1 {
           n = split($1, parts, "/"); truth = parts[n - 1];
           ok = ($2 == truth); right += ok; total++;
           printf "  %-32s %-16s %-16s %.3f%s\n", parts[n - 1] "/" parts[n], truth,
                  ($2 == "" ? "(unknown)" : $2), $3, ok ? "" : "   <- wrong";
         }
         END { printf "%d of %d identified correctly\n", right, total }' "$work/who.csv"
