#!/usr/bin/env bash
# Preemption: the main job (configs/fashion_mnist.yaml: 2 PS tasks, a chief,
# 2 workers, an evaluator) trained twice for the same number of steps, once
# undisturbed and once with a random worker `kill -9`-ed every PERIOD
# seconds, as preemptible machines would.  The killed job must finish, its
# final test accuracy must come within TOLERANCE of the undisturbed one, and
# psflow-launch's output must show every kill and restart.
#
#   tests/chaos/preempt.sh BUILD_DIR [--period 30] [--steps 8000] [--tolerance 0.01]
#
# Prints both runs' time and accuracy, the kills and the restarts.
set -uo pipefail
BUILD=$(cd "$1" && pwd)
shift
PERIOD=30 STEPS=8000 TOL=0.01
while [[ $# -gt 0 ]]; do
  case $1 in
    --period) PERIOD=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --tolerance) TOL=$2; shift 2 ;;
    *) echo "unknown argument $1"; exit 2 ;;
  esac
done
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$SRC/tests/lib.sh"
need_fashion_mnist
job_dir
export PSFLOW_MIN_LOG_LEVEL=1
fail() { echo "FAIL: $*"; exit 1; }

run_job() {  # NAME: trains $DIR/NAME; prints the launcher's output to $DIR/NAME.out
  local M=$DIR/$1
  main_job_args "$M"
  # A budget of restarts in a row as preemptible machines need (a worker that
  # ran 60 s starts a fresh count anyway).
  "$BUILD/launch/psflow-launch" "${MAIN_JOB[@]}" --set "run.train_steps=$STEPS" --set launch.worker_restarts=100 \
    > "$M.out" 2>&1 &
  LAUNCHER_PID=$!
}
accuracy() { sed -n 's/^test accuracy \([0-9.]*\).*/\1/p' "$1"; }
took() { sed -n 's/.*job finished after \([0-9]*\) s.*/\1/p' "$1"; }

run_job clean
wait "$LAUNCHER_PID" || fail "the undisturbed job failed: $(tail -3 "$DIR/clean.out")"
LAUNCHER_PID=

run_job chaos
kills=0
start=$(date +%s)
while kill -0 "$LAUNCHER_PID" 2>/dev/null; do
  for ((t = 0; t < PERIOD * 10; t++)); do
    sleep 0.1
    kill -0 "$LAUNCHER_PID" 2>/dev/null || break 2
  done
  i=$((RANDOM % 2))
  pid=$(pgrep -f "task_type worker --task_index $i .*$DIR/chaos" | head -1)
  if [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null; then
    kills=$((kills + 1))
    echo "  $(( $(date +%s) - start )) s: kill -9 worker:$i (pid $pid)"
  fi
done
wait "$LAUNCHER_PID"
rc=$?
LAUNCHER_PID=
[[ $rc == 0 ]] || fail "the job under kills exited $rc: $(tail -4 "$DIR/chaos.out")"
restarts=$(grep -c "worker:[01] was killed by signal 9; restarting it" "$DIR/chaos.out")
late=$(grep -c "worker:[01] was killed by signal 9 after the chief finished" "$DIR/chaos.out")
a_clean=$(accuracy "$DIR/clean.out") a_chaos=$(accuracy "$DIR/chaos.out")
[[ -n $a_clean && -n $a_chaos ]] || fail "no test accuracy: $(tail -2 "$DIR/clean.out") / $(tail -2 "$DIR/chaos.out")"
echo "undisturbed: $STEPS steps in $(took "$DIR/clean.out") s, test accuracy $a_clean"
echo "a worker killed every $PERIOD s: $STEPS steps in $(took "$DIR/chaos.out") s, test accuracy $a_chaos;" \
  "$kills kills, $restarts restarts in psflow-launch's output$( ((late)) && echo " (and $late kills after the chief finished)")"
grep "job finished" "$DIR/chaos.out" | sed 's/^/  /'
[[ $kills -ge 1 ]] || fail "the job ended before the first kill; use more --steps or a shorter --period"
[[ $((restarts + late)) == "$kills" ]] || fail "$kills kills but $restarts restarts (and $late kills after the end) in the launcher's output"
python3 -c "import sys; d = abs(float(sys.argv[1]) - float(sys.argv[2])); print(f'difference {d:.4f} (tolerance {sys.argv[3]})'); sys.exit(d > float(sys.argv[3]))" \
  "$a_clean" "$a_chaos" "$TOL" || fail "the accuracies differ by more than $TOL"
echo "preempt: passed"
