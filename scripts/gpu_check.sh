#!/usr/bin/env bash
# Runs psflow's GPU checks from a folder made by scripts/gpu_bundle.sh: the
# CUDA tests (every kernel against the CPU, devices, all-reduce, trainers,
# Estimator), the GPU benchmark beside PyTorch when it imports,
# psflow-train-local on the CPU and on gpu:0 (the same seed: the test
# accuracies side by side), and the main job with every task on gpu:0.  Output goes to stdout; figures also to $OUT_DIR.
#
#   scripts/gpu_check.sh [BUNDLE_DIR_OR_TAR_XZ] [OUT_DIR]
set -uo pipefail
B=${1:-gpu-bundle}
if [[ -f $B && $B == *.tar.xz ]]; then
  mkdir -p /tmp/psflow-bundle && tar -xJf "$B" -C /tmp/psflow-bundle
  B=/tmp/psflow-bundle/$(tar -tJf "$B" | head -1 | cut -d/ -f1)
fi
B=$(cd "$B" && pwd)
OUT_DIR=${2:-/tmp/psflow-gpu-check}
mkdir -p "$OUT_DIR"
# The bundle's libraries, then the machine's CUDA runtime, cuBLAS and NCCL
# (from the toolkit, or from the nvidia-* Python packages PyTorch brings).
cuda_dirs=()
for lib in libcudart.so.13 libcublas.so.13 libnccl.so.2; do
  hit=$(ldconfig -p 2>/dev/null | awk -v l="$lib" '$1 == l {print $NF; exit}')
  [[ -n $hit ]] || hit=$(find /usr/local/cuda*/lib* /usr/lib /opt -name "$lib" 2>/dev/null | head -1)
  [[ -n $hit ]] && cuda_dirs+=("$(dirname "$hit")") || echo "warning: $lib not found on this machine"
done
export LD_LIBRARY_PATH="$B/lib$(printf ':%s' "${cuda_dirs[@]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PSFLOW_MIN_LOG_LEVEL=1
nvidia-smi -L || true
rc=0
for t in gpu_status_test gpu_device_test gpu_kernels_cuda_test gpu_all_reduce_test trainer_gpu_test estimator_gpu_test eager_gpu_cuda_test; do
  "$B/bin/$t" --gtest_brief=1 > "$OUT_DIR/$t.log" 2>&1
  r=$?
  echo "$t: exit $r; $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT_DIR/$t.log" | tr '\n' ' ')"
  [[ $r == 0 ]] || { rc=1; grep -E 'Failure|FAILED|error' -A4 "$OUT_DIR/$t.log" | head -60; }
done
"$B/bin/gpu_step_bench" --cpu_steps 5 | tee "$OUT_DIR/gpu_step_bench.txt"
python3 "$B/bin/gpu_torch_bench.py" --psflow "$B/bin/gpu_step_bench" | tee "$OUT_DIR/gpu_torch_bench.txt"
# Fashion-MNIST in one process, the same seed on the CPU and on the GPU.
for dev in cpu gpu:0; do
  rm -rf "$OUT_DIR/local_${dev%%:*}"
  ( time "$B/bin/psflow-train-local" --data_dir "$B/data" --model_dir "$OUT_DIR/local_${dev%%:*}" --device "$dev" \
      --train_steps "${PSFLOW_CHECK_LOCAL_STEPS:-4000}" ) > "$OUT_DIR/train_local_${dev%%:*}.txt" 2>&1
  r=$?
  f=$OUT_DIR/train_local_${dev%%:*}.txt
  echo "train-local --device $dev: exit $r; $(grep -h 'test accuracy' "$f" || grep -m1 psflow-train-local "$f") $(grep real "$f")"
done
# The main job (2 PS, chief, 2 workers, evaluator) with the trainers and the evaluator on gpu:0.
sed "s|DATA_DIR|$B/data|g; s|model_dir: .*|model_dir: $OUT_DIR/fashion_mnist|" "$B/fashion_mnist.yaml" > "$OUT_DIR/job.yaml"
rm -rf "$OUT_DIR/fashion_mnist"
( cd "$B/bin" && PSFLOW_MIN_LOG_LEVEL=0 ./psflow-launch "$OUT_DIR/job.yaml" --set run.device=gpu:0 --quiet ) \
  > "$OUT_DIR/main_job.txt" 2>&1
echo "main job: exit $?"; tail -4 "$OUT_DIR/main_job.txt"
grep -h "runs its steps on\|evaluates on" "$OUT_DIR"/fashion_mnist/logs/*.log 2>/dev/null | head -4
exit $rc
