#!/usr/bin/env bash
# A task killed at each point of a checkpoint write, in a real job (2 PS
# tasks, a chief, a worker; one checkpoint every 20 steps): the second
# checkpoint (the first after the start one) is cut at POINT by a SIGKILL
# (PSFLOW_FAULT, common/core/fault_point.h), psflow-launch restarts the job,
# and the chief must restore the newest *committed* checkpoint: the start
# one when the cut came before the `checkpoint` state file was replaced, the
# cut one when it came after.  Every run must then finish, every checkpoint
# the state file lists must be complete, and no partial file may have been
# taken for a checkpoint.
#
#   tests/chaos/checkpoint_kill.sh BUILD_DIR [POINT...]
#
# Prints one line per point: where the kill came, what was left on disk and
# what the job restored.
set -uo pipefail
BUILD=$(cd "$1" && pwd)
shift
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$SRC/tests/lib.sh"
need_fashion_mnist
job_dir
export PSFLOW_MIN_LOG_LEVEL=1
fail() { echo "FAIL: $*"; exit 1; }

# TASK/POINT@N  RESTORES (the start checkpoint "0", or the cut one "cut").
# N: the start checkpoint is the first write, the one at step 20 the second.
ALL_POINTS=(
  "ps:1/checkpoint.shard_partial@2 0"      # ps:1 dies halfway through writing its data shard
  "ps:1/checkpoint.after_shard@2 0"        # ps:1 dies after its shard, before answering
  "chief:0/checkpoint.after_shards@2 0"    # every data shard written, no index
  "chief:0/checkpoint.after_index@2 0"     # the index written, no .meta
  "chief:0/checkpoint.after_meta@2 0"      # index and .meta, the state file not yet touched
  "chief:0/checkpoint.before_state@2 0"    # about to replace the state file
  "chief:0/before_rename:checkpoint@2 0"   # the new state file written under a temporary name
  "chief:0/checkpoint.after_state@2 cut"   # the state file names the new checkpoint
)
if [[ $# -gt 0 ]]; then
  sel=()
  for want in "$@"; do for p in "${ALL_POINTS[@]}"; do [[ ${p%%@*} == "$want" ]] && sel+=("$p"); done; done
  ALL_POINTS=("${sel[@]}")
fi

failed=0
for entry in "${ALL_POINTS[@]}"; do
  spec=${entry%% *} expect=${entry##* }
  point=${spec%@*}
  name=$(echo "$point" | tr ':/' '__')
  M=$DIR/$name
  mkdir -p "$M.marks"
  read -r P0 P1 P2 P3 <<< "$(free_ports 4)"
  cat > "$M.yaml" <<YAML
cluster:
  ps: ["127.0.0.1:$P0", "127.0.0.1:$P1"]
  chief: ["127.0.0.1:$P2"]
  worker: ["127.0.0.1:$P3"]
model: {type: dnn_classifier, hidden_units: [16], n_classes: 10, optimizer: {type: adam, learning_rate: 0.002}}
data:
  train: {format: idx, images: "$DATA/train-images-idx3-ubyte.gz", labels: "$DATA/train-labels-idx1-ubyte.gz"}
  batch_size: 32
run: {model_dir: "$M", train_steps: 80, save_checkpoints_steps: 20, save_summary_steps: 0, log_step_count_steps: 20,
      tf_random_seed: 1, sync: false}
launch: {restart_backoff_secs: 0.2, job_restarts: 2}
YAML
  PSFLOW_FAULT="$spec" PSFLOW_FAULT_MARKS="$M.marks" timeout 180 \
    "$BUILD/launch/psflow-launch" "$M.yaml" --quiet > "$M.out" 2>&1
  rc=$?
  why() { echo "FAIL $point: $*"; tail -6 "$M.out" | sed 's/^/    /'; failed=$((failed + 1)); }
  if [[ ! -e $M.marks/$(echo "$point" | tr '/' '.') ]]; then why "the fault never fired"; continue; fi
  if [[ $rc != 0 ]]; then why "the job exited $rc after the kill"; continue; fi
  restored=$(sed -n 's/.*chief:0 restored \([^ ]*\) (global_step \([0-9]*\)).*/\2 \1/p' "$M.out" | head -1)
  step=${restored%% *}
  if [[ -z $restored ]]; then why "no restore after the restart"; continue; fi
  if [[ $expect == 0 && $step != 0 ]]; then why "restored step $step, not the committed start checkpoint"; continue; fi
  if [[ $expect == cut && $step == 0 ]]; then why "restored the start checkpoint, not the committed cut one"; continue; fi
  lost=$(sed -n 's/.*at least \([0-9]*\) steps lost, which.*/\1/p' "$M.out" | head -1)
  final=$(sed -n 's/.*job finished after .*: global_step \([0-9]*\).*/\1/p' "$M.out")
  [[ -n $final && $final -ge 80 ]] || { why "finished at step '$final', not 80"; continue; }
  # Every checkpoint the state file lists is complete and readable.
  bad=
  for p in $(sed -n 's/^all_model_checkpoint_paths: "\(.*\)"/\1/p' "$M/checkpoint"); do
    [[ $p == /* ]] || p=$M/$p
    "$BUILD/tools/psflow-inspect" "$p" > /dev/null 2>&1 || bad="$bad $p"
  done
  [[ -z $bad ]] || { why "the state file lists unreadable checkpoints:$bad"; continue; }
  left=$(cd "$M" && ls | grep '\.tmp' | tr '\n' ' ')
  [[ -z $left ]] || { why "temporary files left in model_dir: $left"; continue; }
  printf '%-38s killed, job restarted, restored step %-3s (at least %s steps lost), finished at %s\n' \
    "$point" "$step" "${lost:-?}" "$final"
done
echo "checkpoint_kill: ${#ALL_POINTS[@]} points, $failed failed"
[[ $failed == 0 ]]
