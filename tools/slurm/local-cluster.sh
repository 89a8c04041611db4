#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests and trying tools/slurm/pretrain.sbatch: munged with a key
# generated here, slurmctld and slurmd, all state, logs and sockets in one folder. Needs root (slurmd runs jobs as
# their submitter), Debian's slurm-wlm and munge. Nothing under /etc is read or written.
# Usage: tools/slurm/local-cluster.sh start|stop|status
#   start   writes the folder's slurm.conf, starts the three daemons and waits (30 s at most) until the node is idle;
#           prints "SLURM_CONF=FILE" (export it for sbatch/squeue/scontrol). Already running: says so, exit 0.
#   stop    stops the daemons by the pids they wrote (TERM, then KILL after 10 s); the folder (logs) stays.
#   status  exit 0 and "SLURM_CONF=FILE" when the daemons run and the controller answers, else exit 1.
# Env: PRETRAIN_SLURM_DIR  the folder (default: $TMPDIR or /tmp, then pretrain-slurm)
#      PRETRAIN_SLURM_PORT slurmctld's port (default 6817; slurmd uses the next one)
set -euo pipefail
dir="${PRETRAIN_SLURM_DIR:-${TMPDIR:-/tmp}/pretrain-slurm}"
port="${PRETRAIN_SLURM_PORT:-6817}"
conf="$dir/slurm.conf"
export SLURM_CONF="$conf"
fail() { echo "local-cluster: $*" >&2; exit 1; }

pid_of() { [ -s "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null && cat "$dir/$1.pid"; }
alive() { pid_of munged >/dev/null && pid_of slurmctld >/dev/null && pid_of slurmd >/dev/null; }
logs() {
  for f in munged slurmctld slurmd; do
    [ -f "$dir/$f.log" ] && { echo "--- $dir/$f.log (last 20 lines)"; tail -n 20 "$dir/$f.log"; }
  done >&2
}

stop() {
  local name pid pids=()
  for name in slurmd slurmctld munged; do
    pid=$(pid_of "$name") || continue
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "local-cluster: pid $pid ignored SIGTERM for 10 s; SIGKILL" >&2; kill -KILL "$pid" 2>/dev/null || true; }
  done
  rm -f "$dir"/{munged,slurmctld,slurmd}.pid
  return 0
}

start() {
  [ "$(id -u)" = 0 ] || fail "needs root (slurmd starts jobs as the submitting user)"
  local tool
  for tool in munged mungekey slurmctld slurmd sbatch scontrol; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install slurm-wlm munge)"
  done
  if alive; then echo "local-cluster: already running in $dir"; echo "SLURM_CONF=$conf"; return 0; fi
  stop   # a half-started cluster from before
  local p
  for p in "$port" $((port + 1)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      fail "port $p is in use (another slurmctld/slurmd?); set PRETRAIN_SLURM_PORT to a free pair of ports"
    fi
  done
  rm -rf "$dir/state" "$dir/spool" "$dir/munge" "$dir"/{munged,slurmctld,slurmd}.log
  mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
  chmod 700 "$dir" "$dir/munge"
  mungekey --create --keyfile="$dir/munge/munge.key" --force >/dev/null
  chmod 600 "$dir/munge/munge.key"
  local host cpus
  host=$(hostname -s)
  cpus=$(nproc)
  cat > "$conf" <<CONF
# Written by tools/slurm/local-cluster.sh: one node, this machine, everything under $dir.
ClusterName=pretrain-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's start (default 120 s; see docs/distributed.md).
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=${PRETRAIN_SLURM_CRED_EXPIRE:-5}
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups on these machines: processes tracked by their parent pids, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# Schedule every second rather than every 30-60 s, so a requeued job starts as soon as it is eligible.
SchedulerParameters=bf_interval=1,sched_interval=1
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
KillWait=10
JobRequeue=1
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
  munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" --pid-file="$dir/munged.pid" \
    --log-file="$dir/munged.log" --seed-file="$dir/munge/munged.seed" --force \
    || { logs; fail "munged did not start"; }
  slurmctld -f "$conf" || { logs; fail "slurmctld did not start"; }
  slurmd -f "$conf" || { logs; fail "slurmd did not start"; }
  local state=""
  for _ in $(seq 150); do
    state=$(scontrol show node "$host" 2>/dev/null | grep -o 'State=[A-Z+_]*' | head -n 1 || true)
    case "$state" in State=IDLE*) break ;; esac
    sleep 0.2
  done
  case "$state" in
    State=IDLE*) ;;
    *) logs; stop; fail "the node is not idle after 30 s (${state:-no answer from slurmctld})" ;;
  esac
  alive || { logs; stop; fail "a daemon exited during start-up"; }
  echo "local-cluster: running in $dir (munged $(pid_of munged), slurmctld $(pid_of slurmctld), slurmd $(pid_of slurmd))"
  echo "SLURM_CONF=$conf"
}

case "${1:-}" in
  start) start ;;
  stop) stop; echo "local-cluster: stopped" ;;
  status) alive && scontrol ping >/dev/null 2>&1 && echo "SLURM_CONF=$conf" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
