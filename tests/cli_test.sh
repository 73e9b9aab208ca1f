#!/usr/bin/env bash
# Every psflow binary's command line (CLI11, common/cluster/cli.h): --help
# prints the usage and exits 0, --version names the release, an unknown flag
# exits 2 naming it, a missing argument exits 2 naming it, and a bad value
# is refused by name.
set -uo pipefail
BUILD=$1
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
fails=0
fail() { echo "FAIL: $*"; head -5 "$OUT"; fails=$((fails + 1)); }
expect() {  # rc pattern binary args...
  local rc_want=$1 pattern=$2; shift 2
  "$@" > "$OUT" 2>&1; local rc=$?
  [[ $rc == "$rc_want" ]] || fail "$* exited $rc, expected $rc_want"
  grep -q -- "$pattern" "$OUT" || fail "$* did not print '$pattern'"
}
version=$(sed -n 's/^project(psflow VERSION \([0-9.]*\).*/\1/p' "$(dirname "$0")/../CMakeLists.txt")
for b in ps/psflow-ps chief/psflow-chief worker/psflow-worker evaluator/psflow-evaluator launch/psflow-launch \
         tools/psflow-inspect tools/psflow-events tools/psflow-train-local tools/psflow-export; do
  name=$(basename "$b")
  expect 0 "^Usage: $name" "$BUILD/$b" --help
  expect 0 "^psflow $version$" "$BUILD/$b" --version
  expect 2 "The following argument was not expected: --bogus" "$BUILD/$b" --bogus
done
for b in ps chief worker evaluator; do expect 2 "psflow-$b: --config is required" "$BUILD/$b/psflow-$b"; done
expect 2 "psflow-launch: JOB is required" "$BUILD/launch/psflow-launch"
expect 2 "psflow-inspect: PREFIX_OR_DIR is required" "$BUILD/tools/psflow-inspect"
expect 2 "psflow-events: DIR_OR_FILE is required" "$BUILD/tools/psflow-events"
expect 2 "psflow-export: SOURCE is required" "$BUILD/tools/psflow-export"
expect 2 "\-\-batch_size: Value 0 not in range" "$BUILD/tools/psflow-train-local" --batch_size 0
expect 2 "Could not convert: --train_steps = ten" "$BUILD/tools/psflow-train-local" --train_steps ten
expect 2 "\-\-emit: ponies not in" "$BUILD/launch/psflow-launch" job.yaml --emit ponies
expect 2 "Could not convert: --task_index = x" "$BUILD/ps/psflow-ps" --config job.yaml --task_index x
expect 2 "psflow-train-local runs on one GPU" "$BUILD/tools/psflow-train-local" --device gpu:0,1
# --set takes one value each time: what follows is the next argument.
expect 2 "psflow-launch: cannot read job file missing-job.yaml\|NOT_FOUND.*missing-job.yaml" "$BUILD/launch/psflow-launch" --set run.train_steps=5 missing-job.yaml
expect 2 "The following argument was not expected: stray" "$BUILD/ps/psflow-ps" --config job.yaml --set a=b stray
echo "cli_test: $((fails == 0 ? 1 : 0)) passed, $((fails == 0 ? 0 : 1)) failed"
exit $((fails == 0 ? 0 : 1))
