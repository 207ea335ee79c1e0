#!/usr/bin/env bash
# submit.sh: a facerec job on a Slurm cluster: an array of N shards (one GPU each) and the merge,
# which waits for every shard to succeed (afterok). Prints the two job ids.
#
#   deploy/slurm/submit.sh 64 /data/out/emb.npy embed /data/photos
#   deploy/slurm/submit.sh --array 17,40 64 /data/out/emb.npy embed /data/photos   # re-run two
#
# OUT's folder must be on storage every node sees (the shards write there, the merge reads
# there), and so must the inputs, under the same path: the split is of the sorted input list,
# which every shard lists for itself.
#   --array LIST     the shards to run (default 0-<N-1>); done shards exit at once anyway
#   --shard-opt OPT  an sbatch option for the shards (e.g. --shard-opt=--partition=gpu)
#   --merge-opt OPT  an sbatch option for the merge
#   --logs DIR       where the tasks' logs go (default OUT's folder/logs)
# Environment: FACEREC, the facerec binary (default: facerec on the nodes' PATH).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
array="" logs="" shard_opts=() merge_opts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --array) array="$2"; shift 2 ;;
    --array=*) array="${1#*=}"; shift ;;
    --shard-opt) shard_opts+=("$2"); shift 2 ;;
    --shard-opt=*) shard_opts+=("${1#*=}"); shift ;;
    --merge-opt) merge_opts+=("$2"); shift 2 ;;
    --merge-opt=*) merge_opts+=("${1#*=}"); shift ;;
    --logs) logs="$2"; shift 2 ;;
    --logs=*) logs="${1#*=}"; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
if [ $# -lt 3 ] || ! [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: submit.sh [--array LIST] [--shard-opt OPT]... [--merge-opt OPT]... N OUT COMMAND [ARGS...]" >&2
  exit 2
fi
shards="$1" out="$2"
[ -n "$array" ] || array="0-$((shards - 1))"
[ -n "$logs" ] || logs="$(dirname "$out")/logs"
mkdir -p "$logs"
shift 2
array_id="$(sbatch --parsable --array="$array" --output="$logs/shard-%a-%A.log" \
  "${shard_opts[@]}" "$here/shard.sbatch" "$shards" "$out" "$@")"
array_id="${array_id%%;*}"
merge_id="$(sbatch --parsable --dependency="afterok:$array_id" --output="$logs/merge-%j.log" \
  "${merge_opts[@]}" "$here/merge.sbatch" "$shards" "$out")"
merge_id="${merge_id%%;*}"
echo "shards: job $array_id (array $array of $shards), merge: job $merge_id -> $out"
