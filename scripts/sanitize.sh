#!/usr/bin/env bash
# psflow under the sanitizers, in its own build directory:
#   scripts/sanitize.sh asan [CTEST_REGEX]   ASan + UBSan (build-asan): every
#       C++ unit test and the multi-process tests (the TensorFlow interop tests
#       are left out: TensorFlow's own libraries are not instrumented)
#   scripts/sanitize.sh tsan [CTEST_REGEX]   TSan (build-tsan): the RPC, PS,
#       trainer, session and fork-join tests, where threads meet
# Any report fails the test that met it (-fno-sanitize-recover=all; leaks
# too).  A full asan build takes about as long as the normal one, twice over.
set -euo pipefail
cd "$(dirname "$0")/.."
KIND=${1:-asan}
case "$KIND" in
  asan) SAN=address,undefined; DEFAULT_TESTS='.*'; EXCLUDE='interop' ;;  # and the emulated GPU's tests, below
  tsan) SAN=thread; DEFAULT_TESTS='Rpc|Frame|Transport|Ps|ParameterServer|Trainer|Session|ForkJoin|Eager|Placement|Sync|Chief'; EXCLUDE='interop|end_to_end' ;;
  *) echo "usage: scripts/sanitize.sh asan|tsan [CTEST_REGEX]" >&2; exit 2 ;;
esac
TESTS=${2:-$DEFAULT_TESTS}
B=build-$KIND
scripts/deps.sh --data
if [[ ! -f $B/build.ninja ]]; then
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPSFLOW_WITH_CUDA=OFF -DPSFLOW_SANITIZE="$SAN" > /dev/null
fi
# PSFLOW_SANITIZE_TARGETS="rpc_test ps_test" builds only those (and runs what they hold).
read -r -a targets <<< "${PSFLOW_SANITIZE_TARGETS:-}"
cmake --build "$B" -j "${PSFLOW_JOBS:-2}" ${targets[@]:+--target "${targets[@]}"}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
export PSFLOW_MIN_LOG_LEVEL=${PSFLOW_MIN_LOG_LEVEL:-1}  # some tests read warnings
# The emulated GPU runs CUDA threads as fibers (swapcontext), which ASan and
# TSan do not follow: its tests (label emulated_gpu) are left out.
ctest --test-dir "$B" -R "$TESTS" -E "$EXCLUDE" -LE emulated_gpu --output-on-failure -j 2 --timeout 900
