#!/usr/bin/env bash
# A PS task `kill -9`-ed mid-run: psflow-launch restarts the job by itself,
# the chief restores the last checkpoint, the launcher prints how many steps
# the restart cost (at least what the chief had reported past the restored
# checkpoint; never more than a checkpoint interval), and the job finishes.
#
#   tests/chaos/ps_kill.sh BUILD_DIR [--steps 6000] [--every 500] [--after 1] [--recovery job|task] [--backoff 0.5]
#
# --every: run.save_checkpoints_steps; --after: seconds between the first
# checkpoint past the start one and the kill.
# --recovery task (launch.ps_recovery): only ps:1 restarts; the chief
# restores its variables from the latest checkpoint while ps:0 keeps its
# own (and global_step), the trainers wait for ps:1, and the job never
# restarts.
set -uo pipefail
BUILD=$(cd "$1" && pwd)
shift
STEPS=6000 EVERY=500 AFTER=1 RECOVERY=job BACKOFF=0.5
while [[ $# -gt 0 ]]; do
  case $1 in
    --steps) STEPS=$2; shift 2 ;;
    --every) EVERY=$2; shift 2 ;;
    --after) AFTER=$2; shift 2 ;;
    --recovery) RECOVERY=$2; shift 2 ;;
    --backoff) BACKOFF=$2; shift 2 ;;
    *) echo "unknown argument $1"; exit 2 ;;
  esac
done
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$SRC/tests/lib.sh"
need_fashion_mnist
job_dir
export PSFLOW_MIN_LOG_LEVEL=1
M=$DIR/model
fail() { echo "FAIL: $*"; tail -8 "$M.out"; exit 1; }

main_job_args "$M"
P1=$(echo "${MAIN_JOB[3]}" | sed 's/.*127.0.0.1:\([0-9]*\)"\]/\1/')  # ps:1's port
"$BUILD/launch/psflow-launch" "${MAIN_JOB[@]}" --set "cluster.evaluator=[]" \
  --set "run.train_steps=$STEPS" --set "run.save_checkpoints_secs=null" \
  --set "run.save_checkpoints_steps=$EVERY" --set "launch.restart_backoff_secs=$BACKOFF" \
  --set "launch.ps_recovery=$RECOVERY" > "$M.out" 2>&1 &
LAUNCHER_PID=$!
# The kill comes AFTER seconds after the first checkpoint past the start one
# (a slow machine or a sanitizer build may take a while to get there).
for ((i = 0; i < 1200; i++)); do
  compgen -G "$M/model.ckpt-[1-9]*.index" > /dev/null && break
  kill -0 "$LAUNCHER_PID" 2> /dev/null || fail "the job ended before its first checkpoint"
  sleep 0.1
done
sleep "$AFTER"
pid=$(pgrep -f "task_type ps --task_index 1 .*$M" | head -1)
[[ -n $pid ]] || fail "no ps:1 running after $AFTER s"
kill -9 "$pid"
echo "kill -9 ps:1 (pid $pid) after $AFTER s"
wait "$LAUNCHER_PID"
rc=$?
LAUNCHER_PID=
[[ $rc == 0 ]] || fail "the job exited $rc after the kill"
if [[ $RECOVERY == task ]]; then
  grep -q "ps:1 was killed by signal 9; restarting it alone" "$M.out" || fail "the launcher did not restart ps:1 alone"
  grep -q "restarting the job" "$M.out" && fail "the job was restarted"
  line=$(grep "chief:0 restored ps:1 from" "$M.out" | head -1)
  [[ -n $line ]] || fail "the chief did not say it restored ps:1"
  echo "$line"
  grep "job finished" "$M.out"
  # Calls to ps:1 wait for it: retried by the channel, then by the PS
  # client every second (up to 5 minutes), each wait logged.
  waits=$(grep -h "ps:1 is unavailable\|127.0.0.1:$P1.*retrying in\|ps:1 has not been initialized.*retrying in" \
    "$M"/logs/worker-*.log "$M"/logs/chief-0.log | wc -l)
  echo "trainers logged $waits waits for ps:1"
  [[ $waits -ge 1 ]] || fail "no trainer logged that it waited for ps:1"
  echo "ps_kill: passed"
  exit 0
fi
grep -q "ps:1 was killed by signal 9; restarting the job from its latest checkpoint" "$M.out" \
  || fail "the launcher did not say it restarted the job"
line=$(grep "chief:0 restored" "$M.out" | head -1)
[[ -n $line ]] || fail "no restore reported after the restart"
echo "$line"
grep "job finished" "$M.out"
lost=$(echo "$line" | sed -n 's/.*at least \([0-9]*\) steps lost.*/\1/p')
restored=$(echo "$line" | sed -n 's/.*(global_step \([0-9]*\)).*/\1/p')
[[ -n $lost && $lost -le $EVERY ]] || fail "at least $lost steps lost: more than the checkpoint interval ($EVERY steps)"
[[ $restored -gt 0 ]] || fail "the job restarted from scratch (global_step $restored), not from a checkpoint"
echo "ps_kill: passed"
