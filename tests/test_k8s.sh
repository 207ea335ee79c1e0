#!/usr/bin/env bash
# test_k8s.sh: deploy/k8s checked offline: every manifest against the official Kubernetes
# schemas and types (tests/ref/k8s/validate.mjs; a mistyped field, a wrong type and a bad enum
# value are shown to be caught), the Indexed Job's numbers consistent (SHARDS = completions,
# parallelism within it), and its shard arithmetic run for real: the Job's script run here for
# JOB_COMPLETION_INDEX 0..N-1 (N scaled down to 3, inputs and output redirected), then the merge
# Job's script, give byte for byte what one run writes.
set -uo pipefail
. "$(dirname "$0")/shard_common.sh"
ref="$src/tests/ref/k8s"
if [ ! -d "$ref/node_modules/kubernetes-models" ]; then
  [ "${CI:-}" = true ] && { echo "FAIL: tests/ref/k8s not installed (scripts/setup.sh --tests)"; exit 1; }
  echo "no kubernetes-models (cd tests/ref/k8s && npm ci)"; exit 77
fi
k8s="$src/deploy/k8s"
node "$ref/validate.mjs" "$k8s"/*.yaml >"$tmp/valid" || fail "deploy/k8s: $(cat "$tmp/valid")"
sed 's/completionMode:/completionMod:/' "$k8s/shards-job.yaml" > "$tmp/bad-field.yaml"
sed 's/completions: \([0-9]*\)/completions: "\1"/' "$k8s/shards-job.yaml" > "$tmp/bad-type.yaml"
sed 's/completionMode: Indexed/completionMode: Index/' "$k8s/shards-job.yaml" > "$tmp/bad-enum.yaml"
node "$ref/validate.mjs" "$tmp"/bad-*.yaml >"$tmp/invalid" && fail "bad manifests passed the check"
grep -q "bad-field.yaml: .*'\"completionMod\"' does not exist" "$tmp/invalid" || fail "an unknown field passed: $(cat "$tmp/invalid")"
grep -q "bad-type.yaml: .*completions must be integer" "$tmp/invalid" || fail "a string count passed: $(cat "$tmp/invalid")"
grep -q "bad-enum.yaml: .*completionMode must be equal to one of the allowed values" "$tmp/invalid" || fail "a bad mode passed: $(cat "$tmp/invalid")"

# the Job's numbers
node "$ref/extract.mjs" "$k8s/shards-job.yaml" "$tmp/shards"
node "$ref/extract.mjs" "$k8s/merge-job.yaml" "$tmp/merge"
read -r completions parallelism < "$tmp/shards/completions"
shards="$(sed -n 's/^SHARDS=//p' "$tmp/shards/env")"
[ "$shards" = "$completions" ] || fail "SHARDS=$shards but completions: $completions"
[ "$parallelism" -le "$completions" ] || fail "parallelism $parallelism > completions $completions"
[ "$(sed -n 's/^SHARDS=//p' "$tmp/merge/env")" = "$shards" ] || fail "the merge Job's SHARDS is not $shards"
grep -q "completionMode: Indexed" "$k8s/shards-job.yaml" || fail "not an Indexed Job"
grep -q "nvidia.com/gpu: 1" "$k8s/shards-job.yaml" || fail "no GPU request"

# the scripts, for 3 shards, with `facerec` the build's
mkdir -p "$tmp/path" "$tmp/pods"; ln -s "$bin" "$tmp/path/facerec"
"$bin" embed --quiet --batch 8 "$johns" -o "$tmp/one.npy" || fail "embed, one run"
run_pod() { # SCRIPT INDEX: the pod's environment, then ours on top
  env -i PATH="$tmp/path:/usr/bin:/bin" $(cat "$2") SHARDS=3 THREADS=2 COMMAND=embed \
    ARGS="--quiet --batch 8 $johns" OUTPUT="$tmp/pods/emb.npy" JOB_COMPLETION_INDEX="$3" \
    FACEREC_WEIGHTS="$FACEREC_WEIGHTS" sh "$1"
}
for i in 2 0 1; do
  run_pod "$tmp/shards/script.sh" "$tmp/shards/env" "$i" >"$tmp/pod-$i.log" 2>&1 ||
    fail "pod $i: $(tail -3 "$tmp/pod-$i.log")"
done
run_pod "$tmp/merge/script.sh" "$tmp/merge/env" "" >"$tmp/merge.log" 2>&1 || fail "merge pod: $(cat "$tmp/merge.log")"
same "$tmp/pods/emb.npy" "$tmp/one.npy" "the Jobs' merge"
same "$tmp/pods/emb.paths" "$tmp/one.paths" "the Jobs' merge"
# a pod that runs again (a retry after its node died) finds its shard done
run_pod "$tmp/shards/script.sh" "$tmp/shards/env" 1 >"$tmp/again.log" 2>&1
grep -q "is done" "$tmp/again.log" || fail "a retried pod recomputed a finished shard"
finish test_k8s
