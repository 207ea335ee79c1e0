#!/usr/bin/env bash
# run.sh: the two Jobs in order on the cluster kubectl points at: the shards, a wait for their
# completion, the merge, a wait for it. Give the manifests after editing them (see their tops).
#   deploy/k8s/run.sh [NAMESPACE]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ns=(); [ $# -gt 0 ] && ns=(--namespace "$1")
kubectl "${ns[@]}" apply -f "$here/shards-job.yaml"
kubectl "${ns[@]}" wait --for=condition=complete --timeout=48h job/facerec-shards
kubectl "${ns[@]}" delete --ignore-not-found job/facerec-merge
kubectl "${ns[@]}" apply -f "$here/merge-job.yaml"
kubectl "${ns[@]}" wait --for=condition=complete --timeout=12h job/facerec-merge
