#!/usr/bin/env bash
# bench/merge.sh: `facerec merge` of row-block shards into one .npy, against what a user would
# write without it: numpy loading every shard, np.concatenate, np.save; and a plain copy of the
# same bytes (cat > file: the disk's floor). Shards: distmat --shard of ROWS x ROWS over SHARDS
# parts (float32 rows, the same join as embed's .npy, only wider). Prints a Markdown table:
# median seconds of REPS interleaved rounds and each one's peak memory (facerec's includes the
# binary's own start-up and libraries, shown alone on the last line).
#
# usage: [ROWS=12000] [SHARDS=8] [REPS=3] bench/merge.sh [build-dir]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:-$here/../build}"
rows="${ROWS:-12000}" shards="${SHARDS:-8}" reps="${REPS:-3}"
py="${FACEREC_PYTHON:-/usr/bin/python3}"
bin="$build/facerec"
work="$(mktemp -d "${TMPDIR:-/tmp}/facerec-merge-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

"$py" -c 'import numpy as np, sys
a = np.random.default_rng(1).standard_normal((int(sys.argv[1]), 128), dtype=np.float32)
a /= np.linalg.norm(a, axis=1, keepdims=True); np.save(sys.argv[2], a)' "$rows" "$work/a.npy"
for ((i = 0; i < shards; i++)); do
  "$bin" distmat --quiet --shard "$i/$shards" "$work/a.npy" -o "$work/d-$i.npy"
done
parts=(); for ((i = 0; i < shards; i++)); do parts+=("$work/d-$i.npy"); done
bytes=$(cat "${parts[@]}" | wc -c)

# one_run NAME COMMAND...: seconds and peak KiB appended to $work/NAME
one_run() {
  local name="$1"; shift
  rm -f "$work"/out*
  sync
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>&1
  cat "$work/time" >> "$work/$name"
}
for _ in $(seq "$reps"); do
  one_run start "$bin" --version
  one_run facerec "$bin" merge --quiet "${parts[@]}" -o "$work/out.npy"
  one_run numpy "$py" -c 'import numpy as np, sys
np.save(sys.argv[1], np.concatenate([np.load(f) for f in sys.argv[2:]]))' "$work/out-np.npy" "${parts[@]}"
  one_run copy sh -c 'cat "$@" > "$0"' "$work/out-cat" "${parts[@]}"
done
"$bin" merge --quiet "${parts[@]}" -o "$work/check.npy"
"$py" -c 'import numpy as np, sys
a = np.load(sys.argv[1]); b = np.concatenate([np.load(f) for f in sys.argv[2:]])
assert a.shape == b.shape and (a == b).all()' "$work/check.npy" "${parts[@]}"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
f=$(cut -d' ' -f1 "$work/facerec" | median); n=$(cut -d' ' -f1 "$work/numpy" | median)
c=$(cut -d' ' -f1 "$work/copy" | median)
fm=$(cut -d' ' -f2 "$work/facerec" | sort -n | tail -1); nm=$(cut -d' ' -f2 "$work/numpy" | sort -n | tail -1)
cm=$(cut -d' ' -f2 "$work/copy" | sort -n | tail -1)
s=$(cut -d' ' -f1 "$work/start" | median); sm=$(cut -d' ' -f2 "$work/start" | sort -n | tail -1)
echo "merge of $shards shards, $rows x $rows float32 ($((bytes / 1048576)) MiB), median of $reps rounds:"
echo
echo "| | seconds | peak memory | facerec / this |"
echo "|---|---|---|---|"
echo "| facerec merge | $f | $((fm / 1024)) MiB | |"
echo "| (facerec --version: the binary's start and footprint, CUDA libraries loaded) | $s | $((sm / 1024)) MiB | |"
echo "| numpy load + concatenate + save | $n | $((nm / 1024)) MiB | $(awk -v a="$f" -v b="$n" 'BEGIN { printf "%.2fx faster", b / a }') |"
echo "| cat (the copy alone) | $c | $((cm / 1024)) MiB | $(awk -v a="$f" -v b="$c" 'BEGIN { printf "%.2fx the time", a / b }') |"
