#!/usr/bin/env bash
# Multi-process job on 127.0.0.1: 2 PS tasks, a chief and 2 workers as
# separate processes (psflow-ps, psflow-chief, psflow-worker), started here.
# Checks: the job finishes and every task exits 0 while a bad frame and a
# task without the cluster token hit a PS (both refused, the PS serves on);
# the loss falls; the checkpoints have two data shards; a second run resumes
# from global_step;
# a killed worker does not stop the job and, restarted, rejoins; kernels
# partitioned by rows restore from an unpartitioned checkpoint; retention
# keeps 5 checkpoints; a changed model is refused (exit 3)
# with a message naming the variables and both shapes; synchronous training
# with a backup worker ends exactly at train_steps; trainers say where they
# run their steps, and a GPU the machine lacks is refused (exit 2).
set -uo pipefail
BUILD=$1
source "$(dirname "$0")/lib.sh"
need_fashion_mnist
job_dir
fail() { echo "FAIL: $*"; for f in "$DIR"/*.log; do echo "--- $f"; tail -5 "$f"; done; exit 1; }

ports=($(free_ports 5))
cat > "$DIR/job.yaml" <<YAML
cluster:
  ps: ["127.0.0.1:${ports[0]}", "127.0.0.1:${ports[1]}"]
  chief: ["127.0.0.1:${ports[2]}"]
  worker: ["127.0.0.1:${ports[3]}", "127.0.0.1:${ports[4]}"]
model: {type: dnn_classifier, hidden_units: [32], optimizer: {type: adam, learning_rate: 0.002}}
data:
  train: {format: idx, images: $DATA/train-images-idx3-ubyte.gz, labels: $DATA/train-labels-idx1-ubyte.gz}
  batch_size: 64
  shuffle_buffer: 1000
run: {model_dir: $DIR/model, train_steps: 600, save_checkpoints_steps: 200, log_step_count_steps: 20, token: cluster-secret}
YAML

start() {  # role index [extra flags...]; sets LAST_PID
  local role=$1 idx=$2; shift 2
  "$BUILD/$role/psflow-$role" --config "$DIR/job.yaml" --task_type "$role" --task_index "$idx" "$@" \
    > "$DIR/$role$idx.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}
wait_for() {  # pid seconds -> exit code (124 on timeout)
  local pid=$1 secs=$2 i
  for ((i = 0; i < secs * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; return $?; fi
    sleep 0.1
  done
  return 124
}

run_job() {  # extra flags for every task; kill_worker=1 kills worker 1 after a while
  local extra=("$@")
  start ps 0 "${extra[@]}"; P0=$LAST_PID
  start ps 1 "${extra[@]}"; P1=$LAST_PID
  # The intruders hit ps:0 before the job starts: a loaded machine must not
  # let the job finish before they reach it.
  if [[ ${INTRUDE:-0} == 1 ]]; then intrude; fi
  start worker 0 "${extra[@]}"; W0=$LAST_PID
  start worker 1 "${extra[@]}"; W1=$LAST_PID
  start chief 0 "${extra[@]}"; C=$LAST_PID
  if [[ ${KILL_WORKER:-0} == 1 ]]; then
    for ((i = 0; i < 100; i++)); do grep -q "Restoring parameters" "$DIR/chief0.log" 2>/dev/null && break; sleep 0.1; done
    sleep 0.5; kill -9 "$W1"; echo "killed worker 1"
    sleep 0.5; start worker 1 "${extra[@]}"; W1=$LAST_PID  # restarted: it rejoins
  fi
  wait_for "$C" 240; CHIEF_RC=$?
  wait_for "$P0" 20; P0_RC=$?
  wait_for "$P1" 20; P1_RC=$?
  wait_for "$W0" 30; W0_RC=$?
  wait_for "$W1" 30; W1_RC=$?
}

# 1. A full run, with a bad frame and a token-less task thrown at ps:0 while it serves.
intrude() {
  for ((i = 0; i < 100; i++)); do grep -q "serving on" "$DIR/ps0.log" 2>/dev/null && break; sleep 0.1; done
  python3 - "${ports[0]}" <<'PY'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"PSFL" + struct.pack("<HHIQ", 3, 0, 0x7fffffff, 0))  # absurd header length
s.settimeout(5)
closed = False
try:
    while s.recv(4096):  # the PS's opening challenge, then the close
        pass
    closed = True
except ConnectionResetError:
    closed = True
except socket.timeout:
    pass
sys.exit(0 if closed else 1)
PY
  [[ $? == 0 ]] || echo "bad frame was not answered by closing the connection" > "$DIR/intrude.err"
  sed 's/token: cluster-secret/token: wrong-guess/' "$DIR/job.yaml" > "$DIR/bad.yaml"
  "$BUILD/worker/psflow-worker" --config "$DIR/bad.yaml" --task_type worker --task_index 0 \
    --set run.train_steps=5 > "$DIR/intruder.log" 2>&1 &
  PIDS+=($!)
  INTRUDER=$!
  for ((i = 0; i < 600; i++)); do grep -q "refused connection from" "$DIR/ps0.log" 2>/dev/null && break; sleep 0.1; done
}
INTRUDE=1 run_job
kill -9 "$INTRUDER" 2>/dev/null
[[ ! -f $DIR/intrude.err ]] || fail "$(cat "$DIR/intrude.err")"
grep -q "closing connection from 127.0.0.1" "$DIR/ps0.log" || fail "the PS did not log the bad frame"
grep -q "refused connection from 127.0.0.1.*does not prove it holds the cluster token" "$DIR/ps0.log" || fail "the PS did not refuse the token-less task"
[[ $CHIEF_RC == 0 ]] || fail "chief exited $CHIEF_RC"
[[ $P0_RC == 0 && $P1_RC == 0 ]] || fail "ps exited $P0_RC / $P1_RC (they must exit when the chief is done)"
[[ $W0_RC == 0 ]] || fail "worker 0 exited $W0_RC"
latest_step() { sed -n 's/^model_checkpoint_path: "model.ckpt-\([0-9]*\)"$/\1/p' "$DIR/model/checkpoint"; }
step=$(latest_step)
[[ -n $step && $step -ge 600 ]] || fail "the last checkpoint is at step '$step', expected >= 600"
for f in model.ckpt-$step.index model.ckpt-$step.data-00000-of-00002 model.ckpt-$step.data-00001-of-00002 model.ckpt-$step.meta model.ckpt-0.index; do
  [[ -f $DIR/model/$f ]] || fail "missing $f"
done
first=$(grep -m1 -o 'loss = [0-9.]*' "$DIR/chief0.log" | cut -d' ' -f3)
last=$(grep -o 'loss = [0-9.]*' "$DIR/chief0.log" | tail -1 | cut -d' ' -f3)
python3 -c "import sys; sys.exit(0 if float('$last') < float('$first') else 1)" || fail "loss did not fall: $first -> $last"
grep -q "worker:0: loss" "$DIR/worker0.log" || fail "worker 0 did not train"
grep -Eq "chief:0 runs its steps on (the CPU|gpu:)" "$DIR/chief0.log" || fail "the chief did not say where it runs its steps"

# 2. Started again with more steps and the kernels partitioned in 2 row parts:
# resumes from model.ckpt-600 (written unpartitioned); a killed worker does
# not stop the job, and started again it rejoins.
KILL_WORKER=1 run_job --set run.train_steps=4000 --set run.placement.partitions=2
[[ $CHIEF_RC == 0 ]] || fail "resumed chief exited $CHIEF_RC"
grep -q "Restoring parameters from $DIR/model/model.ckpt-$step" "$DIR/chief0.log" || fail "did not resume from model.ckpt-$step"
grep -q "variable dnn/hiddenlayer_0/kernel \[784,32\] is partitioned into 2 parts" "$DIR/chief0.log" || fail "no partitioning"
step2=$(latest_step)
[[ $step2 -ge 4000 ]] || fail "the resumed job stopped at $step2"
[[ $W0_RC == 0 ]] || fail "worker 0 exited $W0_RC after worker 1 was killed"
[[ $W1_RC == 0 ]] || fail "the restarted worker 1 exited $W1_RC"
grep -q "worker:1: loss" "$DIR/worker1.log" || fail "the restarted worker 1 did not train"
# Retention: keep_checkpoint_max (5) checkpoints, all listed in the state file.
n=$(ls "$DIR"/model/model.ckpt-*.index | wc -l)
[[ $n == 5 ]] || fail "$n checkpoints kept, expected 5: $(ls "$DIR/model")"
[[ $(grep -c all_model_checkpoint_paths "$DIR/model/checkpoint") == 5 ]] || fail "checkpoint file: $(cat "$DIR/model/checkpoint")"

# 3. A changed model is refused with exit code 3, naming the variables and both shapes.
start ps 0 --set model.hidden_units=[16]; P0=$LAST_PID
start ps 1 --set model.hidden_units=[16]; P1=$LAST_PID
start chief 0 --set model.hidden_units=[16] --set run.train_steps=1000; C=$LAST_PID
wait_for "$C" 60; rc=$?
[[ $rc == 3 ]] || fail "a changed model gave exit code $rc, expected 3"
grep -q "tensor_name = dnn/hiddenlayer_0/kernel; shape in model \[784,16\] does not match the shape stored in checkpoint: \[784,32\]" \
  "$DIR/chief0.log" || fail "refusal message"
wait_for "$P0" 20; wait_for "$P1" 20

# 4. Synchronous training: 2 of the 3 trainers' gradients per step, the third a backup.
run_job --set "run.model_dir=$DIR/sync" --set "run.sync={replicas_to_aggregate: 2, total_num_replicas: 3}" \
        --set run.train_steps=200 --set run.save_checkpoints_steps=100
[[ $CHIEF_RC == 0 && $P0_RC == 0 && $P1_RC == 0 && $W0_RC == 0 ]] || fail "sync job: chief $CHIEF_RC ps $P0_RC/$P1_RC worker $W0_RC"
grep -q "model_checkpoint_path: \"model.ckpt-200\"" "$DIR/sync/checkpoint" || fail "sync job did not end at step 200: $(cat "$DIR/sync/checkpoint" | head -1); $(grep -h "done at" "$DIR"/*.log)"

# 5. A GPU this machine does not have: exit 2, naming it and saying what to do.
start chief 0 --set run.device=gpu:99 --set "run.model_dir=$DIR/nogpu"; C=$LAST_PID
wait_for "$C" 60; rc=$?
[[ $rc == 2 ]] || fail "run.device=gpu:99 gave exit code $rc, expected 2"
grep -q "the device of chief:0 (run.device): placing this task on gpu:99: gpu:99 asked for.*run.device: cpu" "$DIR/chief0.log" || fail "no clear message for a missing GPU"

echo "cluster_test: 1 passed, 0 failed"
