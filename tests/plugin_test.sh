#!/usr/bin/env bash
# A job whose model_fn comes from a shared library (model.type: plugin):
# 1 PS task and the chief as separate processes train the example MLP
# plugin; its variables are in the checkpoint under the plugin's names and
# the loss falls.  A missing library and a missing symbol are refused with
# messages that name them.
set -uo pipefail
BUILD=$1
source "$(dirname "$0")/lib.sh"
need_fashion_mnist
job_dir
fail() { echo "FAIL: $*"; for f in "$DIR"/*.log; do echo "--- $f"; tail -5 "$f"; done; exit 1; }
ports=($(free_ports 2))
# The library path is relative to the job file.
cp "$BUILD/examples/plugin_model/libpsflow_mlp_plugin.so" "$DIR/"
cat > "$DIR/job.yaml" <<YAML
cluster: {ps: ["127.0.0.1:${ports[0]}"], chief: ["127.0.0.1:${ports[1]}"]}
model:
  type: plugin
  plugin: {library: libpsflow_mlp_plugin.so}
  params: {depth: "2", width: "24"}
  optimizer: {type: adam, learning_rate: 0.002}
data:
  train: {format: idx, images: $DATA/train-images-idx3-ubyte.gz, labels: $DATA/train-labels-idx1-ubyte.gz}
  batch_size: 64
  shuffle_buffer: 1000
run: {model_dir: $DIR/model, train_steps: 300, save_checkpoints_steps: 300, log_step_count_steps: 50}
YAML
run() {  # extra flags -> CHIEF_RC, PS_RC
  "$BUILD/ps/psflow-ps" --config "$DIR/job.yaml" --task_type ps --task_index 0 "$@" > "$DIR/ps.log" 2>&1 &
  local ps=$!; PIDS+=($ps)
  timeout 120 "$BUILD/chief/psflow-chief" --config "$DIR/job.yaml" --task_type chief --task_index 0 "$@" > "$DIR/chief.log" 2>&1
  CHIEF_RC=$?
  if [[ $CHIEF_RC != 0 ]]; then kill "$ps" 2>/dev/null; fi
  wait "$ps"; PS_RC=$?
}
run
[[ $CHIEF_RC == 0 && $PS_RC == 0 ]] || fail "chief exited $CHIEF_RC, ps $PS_RC"
grep -q "model_fn psflow_model_fn loaded from $DIR/libpsflow_mlp_plugin.so" "$DIR/chief.log" || fail "plugin not loaded"
out=$("$BUILD/tools/psflow-inspect" "$DIR/model")
grep -q "plugin_mlp/layer_1/kernel (DT_FLOAT) \[24,24\]" <<< "$out" || fail "checkpoint lacks the plugin's variables: $out"
grep -q "plugin_mlp/logits/kernel/Adam_1" <<< "$out" || fail "checkpoint lacks the optimizer slots: $out"
first=$(grep -m1 -o 'loss = [0-9.]*' "$DIR/chief.log" | cut -d' ' -f3)
last=$(grep -o 'loss = [0-9.]*' "$DIR/chief.log" | tail -1 | cut -d' ' -f3)
python3 -c "import sys; sys.exit(0 if float('$last') < float('$first') * 0.7 else 1)" || fail "loss did not fall: $first -> $last"

run --set model.plugin.library=missing.so --set run.model_dir=$DIR/m2
[[ $CHIEF_RC == 2 ]] || fail "a missing plugin gave exit code $CHIEF_RC (2: bad input, not retried)"
grep -q "cannot load model plugin $DIR/missing.so" "$DIR/chief.log" || fail "missing-library message: $(tail -2 "$DIR/chief.log")"
run --set model.plugin.symbol=my_model --set run.model_dir=$DIR/m3
[[ $CHIEF_RC == 2 ]] || fail "a missing symbol gave exit code $CHIEF_RC (2: bad input)"
grep -q "does not export my_model (set model.plugin.symbol" "$DIR/chief.log" || fail "missing-symbol message: $(tail -2 "$DIR/chief.log")"
echo "plugin_test: 1 passed, 0 failed"
