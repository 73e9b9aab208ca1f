#!/usr/bin/env bash
# End to end: psflow-train-local (Estimator, input pipeline, graph engine, Adam) trains on the real Fashion-MNIST files,
# leaves a 2-shard checkpoint directory that psflow-inspect reads, resumes
# from it, and refuses a model_dir whose checkpoint does not match the model.
set -euo pipefail
BUILD=$1
DATA=/usr/share/datasets/fashion-mnist
if [[ ! -f $DATA/train-images-idx3-ubyte.gz ]]; then
  echo "SKIP: $DATA missing (apt-get install dataset-fashion-mnist)"; exit 77
fi
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export PSFLOW_MIN_LOG_LEVEL=0  # the checks below read INFO lines

out=$("$BUILD/tools/psflow-train-local" --data_dir $DATA --model_dir "$DIR/m" \
      --train_steps 400 --save_checkpoints_steps 200 --device cpu 2>&1)
echo "$out" | grep -q "training on the CPU" || fail "--device cpu: $out"
acc=$(echo "$out" | sed -n 's/.*test accuracy \([0-9.]*\).*/\1/p')
[[ -n $acc ]] || fail "no accuracy printed: $out"
python3 -c "import sys; sys.exit(0 if float('$acc') > 0.75 else 1)" || fail "accuracy $acc <= 0.75"
for f in checkpoint model.ckpt-0.index model.ckpt-400.index model.ckpt-400.data-00000-of-00002 \
         model.ckpt-400.data-00001-of-00002; do
  [[ -f $DIR/m/$f ]] || fail "missing $f"
done
grep -q 'model_checkpoint_path: "model.ckpt-400"' "$DIR/m/checkpoint" || fail "state file"
"$BUILD/tools/psflow-inspect" "$DIR/m" | grep -qx 'dnn/hiddenlayer_0/kernel (DT_FLOAT) \[784,256\]' || fail "inspect"

out=$("$BUILD/tools/psflow-train-local" --data_dir $DATA --model_dir "$DIR/m" --train_steps 500 2>&1)
echo "$out" | grep -q "Restoring parameters from $DIR/m/model.ckpt-400" || fail "resume: $out"
echo "$out" | grep -q "global_step 500:" || fail "did not continue to 500: $out"

# A checkpoint of another model in model_dir is refused with every difference listed.
mkdir -p "$DIR/other"
cp "$DIR/m/model.ckpt-500".* "$DIR/m/checkpoint" "$DIR/other/"
"$BUILD/tests/psflow_interop_writer" "$DIR/w" >/dev/null
cp "$DIR/w/sharded/"* "$DIR/other/"
if out=$("$BUILD/tools/psflow-train-local" --data_dir $DATA --model_dir "$DIR/other" 2>&1); then
  fail "restored an incompatible checkpoint"
fi
echo "$out" | grep -q "does not match the model" || fail "message: $out"
echo "$out" | grep -q "Key dnn/hiddenlayer_0/kernel not found in checkpoint" || fail "missing key not named: $out"
echo "$out" | grep -q "checkpoint key embedding (float \[10,4\]) is not a variable of the model" || fail "unused key not named: $out"
# A GPU that is not there: a clear error naming the flag, nothing written.
if out=$("$BUILD/tools/psflow-train-local" --data_dir $DATA --model_dir "$DIR/nogpu" --device gpu:99 2>&1); then
  fail "--device gpu:99 trained"
fi
echo "$out" | grep -q "\-\-device gpu:99.*gpu:99 asked for.*--device cpu" || fail "--device gpu:99 message: $out"
[[ ! -e $DIR/nogpu ]] || fail "--device gpu:99 wrote to model_dir"
if out=$("$BUILD/tools/psflow-train-local" --device gpu:0,1 2>&1); then fail "--device gpu:0,1 accepted"; fi
echo "$out" | grep -q "runs on one GPU" || fail "--device gpu:0,1 message: $out"

echo "train_local_test: 1 passed, 0 failed"
