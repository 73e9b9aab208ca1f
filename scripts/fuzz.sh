#!/usr/bin/env bash
# Builds psflow's libFuzzer targets (clang, ASan + UBSan, in build-fuzz) and
# runs each for SECONDS on its committed seed corpus (fuzz/corpus/<target>,
# read-only), the inputs of past findings (fuzz/regressions/<target>) and
# what it finds (build-fuzz/corpus/<target>); prints the
# executions and findings of every target.  Exits 1 when any target found a
# crash, a leak, a timeout (one input over 1 s) or an allocation over 512 MiB;
# the reproducer's path is printed (re-run: build-fuzz/fuzz/<target> FILE).
#
#   scripts/fuzz.sh [SECONDS] [--light] [--runs N] [TARGET...]
#     SECONDS   per target (default 60)
#     --light   only the targets that link no kernels (what CI smokes)
#     --runs N  stop a target after N inputs (SECONDS still bounds it)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=60
LIGHT=0
RUNS=-1
TARGETS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --light) LIGHT=1 ;;
    --runs) RUNS=$2; shift ;;
    [0-9]*) SECS=$1 ;;
    *) TARGETS+=("$1") ;;
  esac
  shift
done
B=${PSFLOW_FUZZ_BUILD_DIR:-build-fuzz}
scripts/deps.sh
if [[ ! -f $B/build.ninja ]]; then
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DPSFLOW_WITH_CUDA=OFF -DPSFLOW_FUZZ=ON -DPSFLOW_SANITIZE=address,undefined > /dev/null
fi
if [[ ${#TARGETS[@]} -eq 0 ]]; then
  TARGETS=(frame_fuzz bundle_fuzz checkpoint_state_fuzz job_config_fuzz tf_config_fuzz idx_fuzz csv_fuzz tfrecord_fuzz)
  [[ $LIGHT == 1 ]] || TARGETS+=(ps_request_fuzz graph_import_fuzz)
fi
cmake --build "$B" -j "${PSFLOW_JOBS:-2}" --target "${TARGETS[@]}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export PSFLOW_MIN_LOG_LEVEL=3  # the targets' errors are expected; logs would only slow them
printf '%-22s %8s %12s %10s %8s %9s\n' target seconds executions exec/s corpus findings
failed=0
for t in "${TARGETS[@]}"; do
  work=$B/corpus/$t
  found=$B/findings/$t
  rm -rf "$found"
  mkdir -p "$work" "$found"
  log=$B/findings/$t.log
  set +e
  "$B/fuzz/$t" -max_total_time="$SECS" -runs="$RUNS" -timeout=1 -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1 \
    -artifact_prefix="$found/" "$work" "fuzz/corpus/$t" $([[ -d fuzz/regressions/$t ]] && echo "fuzz/regressions/$t") \
    > "$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -oP 'stat::number_of_executed_units: \K[0-9]+' "$log" || echo 0)
  secs=$(grep -oP 'Done [0-9]+ runs in \K[0-9]+' "$log" || echo "$SECS")
  units=$(ls "$work" | wc -l)
  n=$(ls "$found" | wc -l)
  printf '%-22s %8s %12s %10s %8s %9s\n' "$t" "$secs" "$execs" "$(( execs / (secs > 0 ? secs : 1) ))" "$units" "$n"
  if [[ $rc != 0 || $n != 0 ]]; then
    failed=1
    grep -E "ERROR: |SUMMARY: |Test unit written to" "$log" | head -5 | sed 's/^/    /' || true
  fi
done
exit $failed
