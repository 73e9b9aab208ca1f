#!/usr/bin/env bash
# The sparse workload end to end on 127.0.0.1: psflow-gen-ctr writes a small
# click log (26 categorical features of 100 ids, labels from its hidden
# teacher), and psflow-launch trains wide & deep on it with 2 PS tasks, a
# chief, 2 workers and an evaluator.  C1..C13 are dynamic embedding tables
# (categorical_column_with_embedding: rows created on the PS tasks as ids
# come), C14..C26 fixed tables.  A PS task is killed after a checkpoint: the
# launcher restarts the job, which restores every table (the dynamic ones
# rehashed onto the tasks) and finishes.  The final evaluation must come
# within 0.05 of the teacher's AUC (the best any model can do on the eval
# file); the checkpoint must hold the dynamic tables in DeepRec's layout.
set -uo pipefail
BUILD=$1
source "$(dirname "$0")/lib.sh"
job_dir
M=$DIR/model
fail() { echo "FAIL: $*"; tail -20 "$DIR/launch.out"; for f in "$M"/logs/*.log; do echo "--- $f"; tail -4 "$f"; done; exit 1; }

"$BUILD/tools/psflow-gen-ctr" --out "$DIR/data" --examples 120000 --eval_examples 10000 --shards 2 --vocab 100 \
  > "$DIR/gen.out" || fail "psflow-gen-ctr failed: $(cat "$DIR/gen.out")"
ceiling=$(sed -n 's/^teacher AUC.*eval \([0-9.]*\).*/\1/p' "$DIR/gen.out")
[[ -n $ceiling ]] || fail "no teacher AUC in: $(cat "$DIR/gen.out")"

ports=($(free_ports 6))
C_DYN="[C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13]"
C_FIX="[C14, C15, C16, C17, C18, C19, C20, C21, C22, C23, C24, C25, C26]"
EMB="[C1_embedding, C2_embedding, C3_embedding, C4_embedding, C5_embedding, C6_embedding, C7_embedding, C8_embedding,
      C9_embedding, C10_embedding, C11_embedding, C12_embedding, C13_embedding, C14_embedding, C15_embedding,
      C16_embedding, C17_embedding, C18_embedding, C19_embedding, C20_embedding, C21_embedding, C22_embedding,
      C23_embedding, C24_embedding, C25_embedding, C26_embedding]"
NUM="[I1, I2, I3, I4, I5, I6, I7, I8, I9, I10, I11, I12, I13]"
FEATURES="{label: {dtype: int64}"
for k in $(seq 1 13); do FEATURES="$FEATURES, I$k: {dtype: float, shape: [1]}"; done
for k in $(seq 1 26); do FEATURES="$FEATURES, C$k: {dtype: int64, shape: [1]}"; done
FEATURES="$FEATURES}"
cat > "$DIR/job.yaml" <<YAML
cluster:
  ps: ["127.0.0.1:${ports[0]}", "127.0.0.1:${ports[1]}"]
  chief: ["127.0.0.1:${ports[2]}"]
  worker: ["127.0.0.1:${ports[3]}", "127.0.0.1:${ports[4]}"]
  evaluator: ["127.0.0.1:${ports[5]}"]
model:
  type: dnn_linear_combined_classifier
  n_classes: 2
  hidden_units: [32]
  feature_columns:
    - {type: numeric_column, key: $NUM}
    - {type: categorical_column_with_embedding, key: $C_DYN}
    - {type: categorical_column_with_identity, num_buckets: 100, key: $C_FIX}
    - {type: embedding_column, dimension: 4, categorical_column: [C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13,
                                                                  C14, C15, C16, C17, C18, C19, C20, C21, C22, C23, C24, C25, C26]}
  linear_feature_columns: [C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13,
                           C14, C15, C16, C17, C18, C19, C20, C21, C22, C23, C24, C25, C26]
  dnn_feature_columns: $EMB
  linear_optimizer: {type: ftrl, learning_rate: 0.2}
  dnn_optimizer: {type: adagrad, learning_rate: 0.2}
data:
  train: {format: tfrecord, files: [$DIR/data/train-00000-of-00002.tfrecord, $DIR/data/train-00001-of-00002.tfrecord],
          features: $FEATURES}
  eval: {format: tfrecord, files: [$DIR/data/eval-00000-of-00001.tfrecord], features: $FEATURES}
  batch_size: 256
  shuffle_buffer: 5000
run: {model_dir: $M, train_steps: 1400, save_checkpoints_steps: 300, keep_checkpoint_max: 3,
      log_step_count_steps: 100, save_summary_steps: 100, tf_random_seed: 7}
eval: {start_delay_secs: 0, throttle_secs: 1000, steps: null}
launch: {bin_dir: "", restart_backoff_secs: 0.5, status_secs: 1, finish_timeout_secs: 60, job_restarts: 2}
YAML

"$BUILD/launch/psflow-launch" "$DIR/job.yaml" > "$DIR/launch.out" 2>&1 &
LAUNCHER_PID=$!
latest_step() { sed -n 's/^model_checkpoint_path: "model.ckpt-\([0-9]*\)"$/\1/p' "$M/checkpoint" 2>/dev/null; }
for ((i = 0; i < 1800; i++)); do [[ $(latest_step) -ge 300 ]] 2>/dev/null && break; sleep 0.1; done
[[ $(latest_step) -ge 300 ]] 2>/dev/null || fail "no checkpoint at step 300"
kill -9 "$(pgrep -f -- "--config $DIR/job.yaml --task_type ps --task_index 1" | head -1)"
for ((i = 0; i < 3000; i++)); do kill -0 "$LAUNCHER_PID" 2>/dev/null || break; sleep 0.1; done
wait "$LAUNCHER_PID"; rc=$?
LAUNCHER_PID=
[[ $rc == 0 ]] || fail "the job exited $rc"
grep -q "restarting the job from its latest checkpoint" "$DIR/launch.out" || fail "the job was not restarted after the PS died"
grep -q "Restoring parameters from $M/model.ckpt-" "$M/logs/chief-0.log" || fail "the restarted chief did not restore"
[[ $(latest_step) -ge 1400 ]] || fail "the job ended at $(latest_step)"

# The final evaluation, against the teacher's AUC.
final=$(python3 - "$M/eval/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(max(rows, key=lambda r: r["global_step"])["auc"])
PY
) || fail "no evaluation in $M/eval/metrics.jsonl"
python3 -c "import sys; a, c = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if a >= c - 0.05 else 1)" "$final" "$ceiling" \
  || fail "final AUC $final is not within 0.05 of the teacher's $ceiling"

# The dynamic tables, in DeepRec's layout, as TensorFlow's tools list them.
ckpt=$M/model.ckpt-$(latest_step)
"$BUILD/tools/psflow-inspect" "$ckpt" > "$DIR/inspect.out" || fail "psflow-inspect failed"
for key in "dnn/input_from_feature_columns/input_layer/C1_embedding/embedding_weights-keys (DT_INT64)" \
           "dnn/input_from_feature_columns/input_layer/C1_embedding/embedding_weights-values/Adagrad (DT_FLOAT)" \
           "linear/linear_model/C13/weights-freqs (DT_INT64)" "linear/linear_model/C13/weights-values/Ftrl_1 (DT_FLOAT)"; do
  grep -qF "$key" "$DIR/inspect.out" || fail "the checkpoint lacks $key: $(head -20 "$DIR/inspect.out")"
done
rows=$(sed -n 's|^dnn/input_from_feature_columns/input_layer/C1_embedding/embedding_weights-keys (DT_INT64) \[\([0-9]*\)\]$|\1|p' "$DIR/inspect.out")
[[ -n $rows && $rows -gt 50 && $rows -le 100 ]] || fail "C1's dynamic table holds '$rows' rows (want most of its 100 ids)"
echo "ctr_test: final AUC $final, teacher $ceiling; C1's table $rows rows; 1 passed, 0 failed"
