#!/usr/bin/env bash
# Builds a self-contained folder (and DIR.tar.xz of it, about 48 MB) for
# checking psflow on a GPU machine that
# lacks the build dependencies (a GPU node, a cloud VM): the CUDA tests, the
# GPU benchmark, the task binaries and launcher, the shared libraries they
# need, a job file and Fashion-MNIST.  Run scripts/gpu_check.sh from the
# repository root there.
#
#   scripts/gpu_bundle.sh [DIR] [ARCH]     # default gpu-bundle/, sm 90 (Hopper)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu-bundle}
ARCH=${2:-90}
BUILD=${PSFLOW_GPU_BUILD_DIR:-build-gpu}
scripts/deps.sh --data
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$ARCH" >/dev/null
TARGETS=(gpu_kernels_cuda_test gpu_device_test gpu_all_reduce_test gpu_status_test trainer_gpu_test estimator_gpu_test eager_gpu_cuda_test
         gpu_step_bench psflow-ps psflow-chief psflow-worker psflow-evaluator psflow-launch psflow-train-local)
cmake --build "$BUILD" -j "${PSFLOW_JOBS:-2}" --target "${TARGETS[@]}"
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib" "$OUT/data"
for t in "${TARGETS[@]}"; do
  f=$(find "$BUILD" -type f -name "$t" -perm -u+x | head -1)
  strip -o "$OUT/bin/$t" "$f"
done
# Every shared library the binaries load, but the C library and the CUDA
# libraries (the driver, the runtime, cuBLAS, NCCL: hundreds of MiB, and the
# GPU machine has its own; gpu_check.sh finds them there).
for f in "$OUT"/bin/*; do ldd "$f"; done | awk '/=> \// {print $3}' | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libgcc_s.so*) ;;
    libcuda.so*|libcudart.so*|libcublas*|libnccl.so*) ;;
    *) cp -L "$lib" "$OUT/lib/" ;;
  esac
done
cp /usr/share/datasets/fashion-mnist/*.gz "$OUT/data/"
cp bench/gpu_torch_bench.py "$OUT/bin/"
sed "s|/usr/share/datasets/fashion-mnist|DATA_DIR|g" configs/fashion_mnist.yaml > "$OUT/fashion_mnist.yaml"
tar -cf - "$OUT" | xz -T2 -6 > "$OUT.tar.xz"
du -sh "$OUT" "$OUT.tar.xz"
