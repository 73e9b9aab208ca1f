#!/usr/bin/env bash
# psflow-launch end to end on 127.0.0.1 with a short job (2 PS, chief, 2
# workers, evaluator): every file in model_dir (checkpoint shards,
# retention, the checkpoint file, events of the chief and the evaluator,
# metrics.jsonl, the exported best graph, one log per task); a second run
# resumes; the evaluator skips what it evaluated and exits after the final
# checkpoint; profiler timelines; Ctrl-C gives a final checkpoint and exit 130; a killed worker
# is restarted and the job finishes; a killed PS task restarts the job from
# the latest checkpoint; --dry-run and --emit; no task outlives the job.
set -uo pipefail
BUILD=$1
SRC=$(cd "$(dirname "$0")/.." && pwd)
source "$(dirname "$0")/lib.sh"
need_fashion_mnist
job_dir
fail() { echo "FAIL: $*"; tail -20 "$DIR/launch.out"; for f in "$DIR"/model/logs/*.log; do echo "--- $f"; tail -4 "$f"; done; exit 1; }
LAUNCH=$BUILD/launch/psflow-launch
ports=($(free_ports 6))
cat > "$DIR/job.yaml" <<YAML
cluster:
  ps: ["127.0.0.1:${ports[0]}", "127.0.0.1:${ports[1]}"]
  chief: ["127.0.0.1:${ports[2]}"]
  worker: ["127.0.0.1:${ports[3]}", "127.0.0.1:${ports[4]}"]
  evaluator: ["127.0.0.1:${ports[5]}"]
model: {type: dnn_classifier, hidden_units: [32], optimizer: {type: adam, learning_rate: 0.002}}
data:
  train: {format: idx, images: $DATA/train-images-idx3-ubyte.gz, labels: $DATA/train-labels-idx1-ubyte.gz}
  eval: {format: idx, images: $DATA/t10k-images-idx3-ubyte.gz, labels: $DATA/t10k-labels-idx1-ubyte.gz}
  batch_size: 64
  shuffle_buffer: 1000
run: {model_dir: $DIR/model, train_steps: 600, save_checkpoints_steps: 100, keep_checkpoint_max: 3,
      log_step_count_steps: 50, save_summary_steps: 50, profile_steps: 50}
eval: {start_delay_secs: 0, throttle_secs: 1, steps: 20, best_metric: {metric: accuracy, higher_is_better: true}}
launch: {bin_dir: "", restart_backoff_secs: 0.5, status_secs: 1, finish_timeout_secs: 60}
YAML
# The binaries live in the build tree: psflow-launch finds them by its own path.

launch() {  # args...; runs in the background, sets LAUNCHER_PID
  "$LAUNCH" "$DIR/job.yaml" "$@" > "$DIR/launch.out" 2>&1 &
  LAUNCHER_PID=$!
}
wait_launcher() {  # seconds -> exit code (124: timeout)
  local i
  for ((i = 0; i < $1 * 10; i++)); do
    if ! kill -0 "$LAUNCHER_PID" 2>/dev/null; then wait "$LAUNCHER_PID"; return $?; fi
    sleep 0.1
  done
  return 124
}
no_tasks_left() { ! pgrep -f -- "--config $DIR/job.yaml" > /dev/null; }
latest_step() { sed -n 's/^model_checkpoint_path: "model.ckpt-\([0-9]*\)"$/\1/p' "$DIR/model/checkpoint"; }
pid_of() { pgrep -f -- "--config $DIR/job.yaml --task_type $1 --task_index $2" | head -1; }
lines() { cat "$1" 2>/dev/null | wc -l; }
wait_log() {  # file pattern seconds [skip_lines]: the pattern in a line after the first skip_lines
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    tail -n +$(( ${4:-0} + 1 )) "$1" 2>/dev/null | grep -q "$2" && return 0
    sleep 0.1
  done
  return 1
}

# 0. --dry-run and --emit print every task without starting any.
"$LAUNCH" "$DIR/job.yaml" --dry-run --set run.train_steps=7 > "$DIR/dry.out" || fail "--dry-run failed"
[[ $(grep -c -- "--task_type" "$DIR/dry.out") == 6 ]] || fail "dry run: $(cat "$DIR/dry.out")"
grep -q "psflow-evaluator --config $DIR/job.yaml --task_type evaluator --task_index 0 --set run.train_steps=7" "$DIR/dry.out" \
  || fail "dry run lacks the evaluator's command line: $(cat "$DIR/dry.out")"
"$LAUNCH" "$DIR/job.yaml" --emit k8s > "$DIR/k8s.yaml" || fail "--emit k8s failed"
for want in "kind: TFJob" "replicas: 2" "Evaluator:" '"psflow-ps"' '"psflow-chief"' '"psflow-evaluator"' "kind: ConfigMap"; do
  grep -q "$want" "$DIR/k8s.yaml" || fail "k8s manifest lacks '$want'"
done
if python3 -c "import yaml" 2>/dev/null; then  # PyYAML is optional; when present the manifest must parse
  python3 -c "import sys, yaml; docs = list(yaml.safe_load_all(open(sys.argv[1]))); assert [d['kind'] for d in docs] == ['ConfigMap', 'TFJob']" \
    "$DIR/k8s.yaml" || fail "the k8s manifest is not valid YAML"
fi
"$LAUNCH" "$DIR/job.yaml" --emit slurm > "$DIR/job.sbatch" || fail "--emit slurm failed"
grep -q "#SBATCH --ntasks=6" "$DIR/job.sbatch" && bash -n "$DIR/job.sbatch" || fail "slurm script: $(head -12 "$DIR/job.sbatch")"
# Trainers on two GPUs each: their pods and sruns ask for them, the evaluator
# for one (it evaluates on one GPU), the PS tasks for none.  Inside a pod or
# a step a task sees its GPUs as gpu:0..., so named GPUs are renumbered.
"$LAUNCH" "$DIR/job.yaml" --emit k8s --set "run.gpus=[2,3]" > "$DIR/k8s_gpu.yaml" || fail "--emit k8s with GPUs failed"
[[ $(grep -c "nvidia.com/gpu: 2" "$DIR/k8s_gpu.yaml") == 2 && $(grep -c "nvidia.com/gpu: 1" "$DIR/k8s_gpu.yaml") == 1 ]] \
  || fail "k8s: chief and worker should ask for 2 GPUs, the evaluator for 1: $(grep -n gpu "$DIR/k8s_gpu.yaml")"
for want in '"psflow-chief".*"run.gpus=\[2,3\]", "--set", "run.task_devices={chief: \\"gpu:0,1\\"}"\]' \
            '"psflow-evaluator".*"--set", "run.task_devices={evaluator: \\"gpu:0\\"}"\]'; do
  grep -q "$want" "$DIR/k8s_gpu.yaml" || fail "k8s: no renumbered GPUs ($want): $(grep -n command "$DIR/k8s_gpu.yaml")"
done
if python3 -c "import yaml" 2>/dev/null; then
  python3 -c "import sys, yaml; list(yaml.safe_load_all(open(sys.argv[1])))" "$DIR/k8s_gpu.yaml" || fail "k8s_gpu.yaml is not valid YAML"
fi
"$LAUNCH" "$DIR/job.yaml" --emit slurm --set "run.gpus=[2,3]" > "$DIR/gpu.sbatch" || fail "--emit slurm with GPUs failed"
bash -n "$DIR/gpu.sbatch" || fail "gpu.sbatch is not valid bash"
grep -q "^#SBATCH --gres=gpu:7$" "$DIR/gpu.sbatch" || fail "slurm: one node holds 3 trainers x 2 + 1 GPUs: $(grep SBATCH "$DIR/gpu.sbatch")"
[[ $(grep -c -- "--gres=gpu:2 .*task_type \(chief\|worker\) .*--set 'run.task_devices={\(chief\|worker\): \"gpu:0,1\"}' &$" "$DIR/gpu.sbatch") == 3 ]] \
  || fail "slurm: the 3 trainers should ask for 2 GPUs, seen as gpu:0,1: $(grep srun "$DIR/gpu.sbatch")"
grep -q -- "--gres=gpu:1 .*task_type evaluator .*--set 'run.task_devices={evaluator: \"gpu:0\"}' &$" "$DIR/gpu.sbatch" \
  || fail "slurm: the evaluator should ask for one GPU, seen as gpu:0: $(grep srun "$DIR/gpu.sbatch")"
"$LAUNCH" "$DIR/job.yaml" --emit slurm --set run.device=gpu:0 --set "run.task_devices={evaluator: cpu}" > "$DIR/gpu2.sbatch" \
  || fail "--emit slurm with task_devices failed"
[[ $(grep -c -- "--gres=gpu:1 " "$DIR/gpu2.sbatch") == 3 ]] && grep -q "^#SBATCH --gres=gpu:3$" "$DIR/gpu2.sbatch" \
  && grep -q "task_type evaluator" "$DIR/gpu2.sbatch" && ! grep "task_type evaluator" "$DIR/gpu2.sbatch" | grep -q gres \
  || fail "slurm: an evaluator on the CPU should not ask for a GPU: $(grep 'srun\|SBATCH' "$DIR/gpu2.sbatch")"
[[ ! -d $DIR/model ]] || fail "--dry-run/--emit started something"

# 1. A whole job.
launch
wait_launcher 180; rc=$?
[[ $rc == 0 ]] || fail "the launcher exited $rc"
no_tasks_left || fail "tasks outlived the job: $(pgrep -af -- "--config $DIR/job.yaml")"
M=$DIR/model
last=$(latest_step)  # asynchronous workers may overshoot train_steps by a step or two
[[ $last -ge 600 && $last -le 610 ]] || fail "last checkpoint at '$last', expected 600"
for f in model.ckpt-$last.index model.ckpt-$last.data-00000-of-00002 model.ckpt-$last.data-00001-of-00002 model.ckpt-$last.meta \
         checkpoint eval/metrics.jsonl export/best/frozen_graph.pb export/best/best.json \
         logs/ps-0.log logs/ps-1.log logs/chief-0.log logs/worker-0.log logs/worker-1.log logs/evaluator-0.log; do
  [[ -s $M/$f ]] || fail "missing $f"
done
[[ $(ls "$M"/model.ckpt-*.index | wc -l) == 3 ]] || fail "retention: $(ls "$M")"
ls "$M"/events.out.tfevents.* > /dev/null 2>&1 || fail "no chief events in model_dir"
ls "$M"/eval/events.out.tfevents.* > /dev/null 2>&1 || fail "no evaluator events in model_dir/eval"
grep -q "model.ckpt-$last\"" "$M/eval/metrics.jsonl" || fail "the final checkpoint was not evaluated: $(cat "$M/eval/metrics.jsonl")"
grep -q "^test accuracy 0\.[0-9]* (global_step 6[01][0-9])" "$DIR/launch.out" || fail "no test accuracy printed"
acc=$(sed -n 's/^test accuracy \([0-9.]*\).*/\1/p' "$DIR/launch.out")
python3 -c "import sys; sys.exit(0 if float('$acc') > 0.6 else 1)" || fail "test accuracy $acc"
grep -q "^chief:0 | " "$DIR/launch.out" || fail "no prefixed chief lines on the terminal"
# The status comes from the tasks' records: the final line names the step
# and checkpoint the chief reported; records stay in the logs, off the terminal.
grep -q "job finished after .* (exit code 0): global_step $last, last checkpoint $M/model.ckpt-$last" "$DIR/launch.out" \
  || fail "the final status line: $(grep 'job finished' "$DIR/launch.out")"
! grep -q "@psflow-record" "$DIR/launch.out" || fail "status records on the terminal"
grep -q "^@psflow-record checkpoint .*step=$last" "$M/logs/chief-0.log" || fail "no checkpoint record in the chief's log"
grep -q "^@psflow-record eval .*accuracy=" "$M/logs/evaluator-0.log" || fail "no eval record in the evaluator's log"
grep -q "done after" "$M/logs/evaluator-0.log" || fail "the evaluator did not finish by itself"
# The events read back: the chief's loss and the evaluator's accuracy.
"$BUILD/tools/psflow-events" "$M" > "$DIR/events.txt" || fail "psflow-events $M"
grep -q "^loss 5[0-9][0-9] " "$DIR/events.txt" || fail "chief events: $(head "$DIR/events.txt")"
grep -q "^global_step/sec " "$DIR/events.txt" || fail "no global_step/sec in the chief's events"
"$BUILD/tools/psflow-events" "$M/eval" | grep -q "^accuracy 6[01][0-9] " || fail "evaluator events lack the final accuracy"
evaluated=$(wc -l < "$M/eval/metrics.jsonl")
# The profiler's chrome://tracing timelines: pull, every op, push.
trace=$(ls "$M"/profile/worker-0-step-*.trace.json 2>/dev/null | head -1)
[[ -n $trace ]] || fail "no timeline in $M/profile: $(ls "$M/profile" 2>&1)"
python3 - "$trace" <<'PY' || fail "bad timeline $trace"
import json, sys
events = json.load(open(sys.argv[1]))["traceEvents"]
names = {e["name"] for e in events}
cats = {e.get("cat") for e in events}
assert {"pull", "push"} <= names, names
assert "MatMul" in cats and "ApplyAdam" not in cats, cats  # the PS applies the optimizer
assert all(e["dur"] >= 0 for e in events if e["ph"] == "X")
PY

# 2. Started again with more steps: resumes; the evaluator skips what it did.
launch --set run.train_steps=800
wait_launcher 180; rc=$?
[[ $rc == 0 ]] || fail "the resumed job exited $rc"
grep -q "Restoring parameters from $M/model.ckpt-$last" "$M/logs/chief-0.log" || fail "did not resume from model.ckpt-$last"
[[ $(latest_step) -ge 800 ]] || fail "resumed job ended at $(latest_step)"
dups=$(sed -n 's/.*"checkpoint": "\([^"]*\)".*/\1/p' "$M/eval/metrics.jsonl" | sort | uniq -d)
[[ -z $dups ]] || fail "checkpoints evaluated twice: $dups"
[[ $(wc -l < "$M/eval/metrics.jsonl") -gt $evaluated ]] || fail "nothing new evaluated"
no_tasks_left || fail "tasks outlived the resumed job"

# 3. A killed worker is restarted and the job finishes (some 10 s of training
# at this model's ~1000 steps/s on 2 cores).
target=$(( $(latest_step) + 12000 ))
seen=$(lines "$M/logs/worker-1.log")
launch --set run.train_steps=$target
wait_log "$M/logs/worker-1.log" "worker:1: loss" 60 "$seen" || fail "worker 1 never trained"
kill -9 "$(pid_of worker 1)"
wait_log "$DIR/launch.out" "worker:1 was killed by signal 9; restarting it" 20 || fail "no restart of worker 1"
wait_launcher 240; rc=$?
[[ $rc == 0 ]] || fail "the job with a killed worker exited $rc"
[[ $(grep -c "worker:1 started" "$M/logs/worker-1.log") -ge 2 ]] || fail "worker 1 was not started again"
[[ $(latest_step) -ge $target ]] || fail "the job ended at $(latest_step), not $target"

# 4. A killed PS task: the job restarts from the latest checkpoint and finishes.
start=$(latest_step)
target=$(( start + 12000 ))
seen=$(lines "$M/logs/chief-0.log")
launch --set run.train_steps=$target
for ((i = 0; i < 600; i++)); do [[ $(latest_step) -ge $(( start + 1000 )) ]] && break; sleep 0.1; done
[[ $(latest_step) -ge $(( start + 1000 )) ]] || fail "no checkpoint 1000 steps after $start"
kill -9 "$(pid_of ps 1)"
wait_log "$DIR/launch.out" "restarting the job from its latest checkpoint" 30 || fail "no job restart after the PS died"
wait_launcher 300; rc=$?
[[ $rc == 0 ]] || fail "the job with a killed PS exited $rc"
[[ $(latest_step) -ge $target ]] || fail "the restarted job ended at $(latest_step), not $target"
[[ $(grep -c "Restoring parameters" "$M/logs/chief-0.log") -ge 4 ]] || fail "the restarted chief did not restore"
no_tasks_left || fail "tasks outlived the restarted job"

# 5. Ctrl-C: the chief writes a final checkpoint, every task exits, exit 130.
before=$(latest_step)
seen=$(lines "$M/logs/chief-0.log")
launch --set run.train_steps=1000000
wait_log "$M/logs/chief-0.log" "Restoring parameters from" 60 "$seen" || fail "the interrupted job did not start"
sleep 3
kill -INT "$LAUNCHER_PID"
wait_launcher 90; rc=$?
[[ $rc == 130 ]] || fail "Ctrl-C gave exit code $rc, expected 130"
after=$(latest_step)
[[ $after -gt $before ]] || fail "no final checkpoint after Ctrl-C ($before -> $after)"
grep -q "Saving checkpoints for $after into" "$M/logs/chief-0.log" || fail "the final checkpoint is not the chief's"
no_tasks_left || fail "tasks outlived Ctrl-C: $(pgrep -af -- "--config $DIR/job.yaml")"
echo "launch_test: 1 passed, 0 failed"
