#!/usr/bin/env bash
# Network faults between real processes, on 127.0.0.1: a job (2 PS tasks, a
# chief, a worker, each started by hand) whose connections to ps:0, the
# task that holds global_step, go through tests/chaos/fault_proxy.py:
#   cut    every connection cut mid-frame once a second
#   stall  nothing forwarded for 12 s (calls wait; at 10 s each says so)
#   slow   every chunk held 20 ms
# Each run must finish; its retries and waits must be in the logs (what is
# waited for, for how long); and every push must be applied exactly once:
# global_step at the end is the chief's and the worker's local steps added
# (a retried push that had landed is recognized by its push_id).
#
#   tests/chaos/netfault.sh BUILD_DIR [cut|stall|slow ...]
set -uo pipefail
BUILD=$(cd "$1" && pwd)
shift
CASES=("$@")
[[ ${#CASES[@]} -gt 0 ]] || CASES=(cut stall slow)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$SRC/tests/lib.sh"
need_fashion_mnist
small_model
job_dir
fail() { echo "FAIL: $*"; exit 1; }

run_case() {  # NAME STEPS PROXY_ARGS...
  local name=$1 steps=$2
  shift 2
  local D=$DIR/$name
  mkdir -p "$D"
  read -r P0 P1 P2 P3 PX <<< "$(free_ports 5)"
  cat > "$D/job.yaml" <<YAML
cluster:
  ps: ["127.0.0.1:$PX", "127.0.0.1:$P1"]
  chief: ["127.0.0.1:$P2"]
  worker: ["127.0.0.1:$P3"]
$SMALL_MODEL
run: {model_dir: "$D/model", train_steps: $steps, save_checkpoints_steps: 1000, log_step_count_steps: 500}
YAML
  python3 "$SRC/tests/chaos/fault_proxy.py" "$PX" "127.0.0.1:$P0" "$@" --log "$D/proxy.log" &
  PIDS+=($!)
  disown $!
  "$BUILD/ps/psflow-ps" --config "$D/job.yaml" --task_type ps --task_index 0 \
    --set "cluster.ps=[\"127.0.0.1:$P0\", \"127.0.0.1:$P1\"]" > "$D/ps0.log" 2>&1 &
  PIDS+=($!)
  "$BUILD/ps/psflow-ps" --config "$D/job.yaml" --task_type ps --task_index 1 > "$D/ps1.log" 2>&1 &
  PIDS+=($!)
  "$BUILD/worker/psflow-worker" --config "$D/job.yaml" --task_type worker --task_index 0 > "$D/worker.log" 2>&1 &
  local worker=$!
  PIDS+=($worker)
  local start=$SECONDS
  timeout 300 "$BUILD/chief/psflow-chief" --config "$D/job.yaml" --task_type chief --task_index 0 > "$D/chief.log" 2>&1 \
    || fail "$name: the chief failed: $(grep -h '^E' "$D"/*.log | tail -3)"
  wait "$worker" || fail "$name: the worker failed: $(grep -h '^E' "$D/worker.log" | tail -3)"
  local secs=$((SECONDS - start))
  local g l1 l2
  # The later of the two: a trainer may push once more after the other stopped looking.
  g=$(sed -n 's/.* done at global_step \([0-9]*\) after.*/\1/p' "$D/chief.log" "$D/worker.log" | sort -n | tail -1)
  l1=$(sed -n 's/.*chief:0 done at global_step [0-9]* after \([0-9]*\) local steps.*/\1/p' "$D/chief.log")
  l2=$(sed -n 's/.*worker:0 done at global_step [0-9]* after \([0-9]*\) local steps.*/\1/p' "$D/worker.log")
  [[ -n $g && -n $l1 && -n $l2 ]] || fail "$name: no final steps in the logs"
  [[ $g == $((l1 + l2)) ]] || fail "$name: global_step $g but the trainers made $l1 + $l2 steps: a push was applied twice or lost"
  local retries waits dups faults
  retries=$(grep -h "retrying in" "$D/chief.log" "$D/worker.log" | wc -l)
  waits=$(grep -h "no answer after 10 s; waiting up to" "$D/chief.log" "$D/worker.log" | wc -l)
  dups=$(grep -h "came again (a retry after a broken connection)" "$D/ps0.log" | wc -l)
  faults=$(grep -c "cut\|stalling" "$D/proxy.log")
  printf '%-6s %4d s, global_step %s = %s + %s local steps; %s proxy faults, %s retries and %s long waits logged, %s pushes recognized as retries\n' \
    "$name" "$secs" "$g" "$l1" "$l2" "$faults" "$retries" "$waits" "$dups"
  case $name in
    cut) [[ $faults -ge 2 && $retries -ge 1 ]] || fail "cut: no cuts or no logged retries" ;;
    stall) [[ $waits -ge 1 ]] || fail "stall: no call said how long it had waited" ;;
  esac
  for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null; done
  wait 2> /dev/null
  PIDS=()
}

for c in "${CASES[@]}"; do
  case $c in
    cut) run_case cut 4000 --cut_every 1 ;;
    stall) run_case stall 2000 --stall_at 2 --stall_for 12 ;;
    slow) run_case slow 300 --delay_ms 20 ;;
    *) fail "unknown case $c" ;;
  esac
done
echo "netfault: passed"
