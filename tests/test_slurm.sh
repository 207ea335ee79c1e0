#!/usr/bin/env bash
# test_slurm.sh: deploy/slurm on a real Slurm: a single-node cluster from Debian's packages
# (munged, slurmctld, slurmd on localhost; slurm.conf written here, free ports, everything in a
# temporary folder, a count-only "gpu" resource so that the scripts' --gres=gpu:1 is honoured),
# the README's samples embedded in 3 shards by submit.sh, merged by the afterok job, compared
# with one run byte for byte; then one shard removed and re-run alone (--array 1), the others
# untouched. Everything started here is stopped on the way out, failed or not. Labelled heavy.
set -uo pipefail
. "$(dirname "$0")/shard_common.sh"
for tool in munged slurmctld slurmd sbatch scontrol sinfo scancel; do
  if ! command -v "$tool" >/dev/null; then
    # CI installs them (scripts/setup.sh --tests): there a missing tool is a failure
    [ "${CI:-}" = true ] && { echo "FAIL: $tool not installed"; exit 1; }
    echo "no $tool (apt-get install slurmctld slurmd slurm-client munge)"; exit 77
  fi
done
[ "$(id -u)" = 0 ] || { echo "slurmd launches jobs as their user: this test runs as root"; exit 77; }

cluster="$tmp/cluster"; mkdir -p "$cluster"/{state,spool,log,key} "$tmp/out"
chmod 700 "$cluster/key"; chmod 755 "$cluster" "$tmp"
pids=()
stop() {
  [ -n "${SLURM_CONF:-}" ] && scancel --quiet --user=root 2>/dev/null
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap stop EXIT

# munge: its own key and socket
dd if=/dev/urandom of="$cluster/key/munge.key" bs=1024 count=1 status=none
chmod 400 "$cluster/key/munge.key"
munged --foreground --force --socket="$cluster/munge.socket" --key-file="$cluster/key/munge.key" \
  --pid-file="$cluster/munged.pid" --seed-file="$cluster/munge.seed" \
  --log-file="$cluster/log/munged.log" 2>"$cluster/log/munged.err" &
pids+=($!)

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
host="$(hostname)"
: > "$cluster/gpu0"; : > "$cluster/gpu1"
cat > "$cluster/slurm.conf" <<CONF
ClusterName=facerec-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$cluster/munge.socket
StateSaveLocation=$cluster/state
SlurmdSpoolDir=$cluster/spool
SlurmctldPidFile=$cluster/slurmctld.pid
SlurmdPidFile=$cluster/slurmd.pid
SlurmctldLogFile=$cluster/log/slurmctld.log
SlurmdLogFile=$cluster/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
MinJobAge=600
GresTypes=gpu
NodeName=facerec-node NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=4000 Gres=gpu:2 State=UNKNOWN
PartitionName=test Nodes=facerec-node Default=YES MaxTime=INFINITE State=UP
CONF
# a count-only GPU resource: slurmd wants files for it and only warns that these are not devices
echo "NodeName=facerec-node Name=gpu File=$cluster/gpu[0-1]" > "$cluster/gres.conf"
export SLURM_CONF="$cluster/slurm.conf"
slurmctld -D -f "$SLURM_CONF" >"$cluster/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N facerec-node -f "$SLURM_CONF" >"$cluster/log/slurmd.out" 2>&1 &
pids+=($!)
up=0
for _ in $(seq 60); do
  sinfo --noheader -o '%t' 2>/dev/null | grep -q idle && { up=1; break; }
  sleep 0.5
done
if [ "$up" = 0 ]; then
  echo "FAIL: the single-node cluster did not come up"; sinfo 2>&1
  tail -5 "$cluster"/log/*; exit 1
fi

# wait_job ID: until it has finished; its final state on stdout
wait_job() {
  local state=""
  for _ in $(seq 600); do
    state="$(scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort -u | tr '\n' ' ')"
    case "$state" in *PENDING*|*RUNNING*|*CONFIGURING*|*COMPLETING*|"") sleep 0.5 ;; *) break ;; esac
    # a dependency that can no longer be met never runs
    scontrol show job "$1" 2>/dev/null | grep -q 'Reason=DependencyNeverSatisfied' && { state=NEVER; break; }
  done
  echo "$state"
}
# submit ARGS...: deploy/slurm/submit.sh; sets array_id and merge_id
submit() {
  local line
  line="$(FACEREC="$bin" "$src/deploy/slurm/submit.sh" --shard-opt=--cpus-per-task=1 \
          --shard-opt=--mem=500 --merge-opt=--mem=200 "$@")" || { fail "submit.sh $*"; return 1; }
  array_id="$(sed -n 's/^shards: job \([0-9]*\).*/\1/p' <<<"$line")"
  merge_id="$(sed -n 's/.*merge: job \([0-9]*\).*/\1/p' <<<"$line")"
}

out="$tmp/out/emb.npy"
"$bin" embed --quiet --batch 8 "$johns" -o "$tmp/one.npy" || fail "embed, one run"
if submit 3 "$out" embed --quiet --batch 8 "$johns"; then
  state="$(wait_job "$merge_id")"
  [ "$state" = "COMPLETED " ] || fail "merge job $merge_id: $state ($(cat "$tmp"/out/logs/* 2>/dev/null | tail -5))"
  shards_state="$(wait_job "$array_id")"
  [ "$shards_state" = "COMPLETED " ] || fail "shard array $array_id: $shards_state"
  same "$out" "$tmp/one.npy" "Slurm merge"
  same "$tmp/out/emb.paths" "$tmp/one.paths" "Slurm merge"
  [ "$(ls "$tmp"/out/emb.shard-*-of-3.npy | wc -l)" = 3 ] || fail "not 3 shard outputs: $(ls "$tmp/out")"
fi

# shard 1 lost: re-run alone, the other shards' files not rewritten, the merge again exact
stat -c '%i %Y' "$tmp"/out/emb.shard-0-of-3.* "$tmp"/out/emb.shard-2-of-3.* > "$tmp/before"
rm -f "$tmp"/out/emb.shard-1-of-3.* "$out" "$tmp/out/emb.paths"
if submit --array 1 3 "$out" embed --quiet --batch 8 "$johns"; then
  state="$(wait_job "$merge_id")"
  [ "$state" = "COMPLETED " ] || fail "merge after the re-run: $state"
  same "$out" "$tmp/one.npy" "merge after shard 1 re-ran alone"
  stat -c '%i %Y' "$tmp"/out/emb.shard-0-of-3.* "$tmp"/out/emb.shard-2-of-3.* | cmp -s - "$tmp/before" ||
    fail "re-running shard 1 touched the other shards"
  [ -e "$tmp/out/emb.shard-1-of-3.npy.manifest.json" ] || fail "shard 1 did not run again"
fi

# the whole array again: every shard is done, each exits at once, the merge still exact
if submit 3 "$out" embed --quiet --batch 8 "$johns"; then
  [ "$(wait_job "$merge_id")" = "COMPLETED " ] || fail "merge of an array of done shards"
  grep -l "is done" "$tmp"/out/logs/shard-*-"$array_id".log 2>/dev/null | wc -l | grep -qx 3 ||
    fail "done shards were computed again"
  same "$out" "$tmp/one.npy" "merge after a re-submitted array"
fi
finish test_slurm
