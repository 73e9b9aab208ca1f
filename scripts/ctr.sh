#!/usr/bin/env bash
# The sparse workload: writes a synthetic click log (psflow-gen-ctr:
# 1,000,000 training and 10,000 evaluation examples, 26 categorical features
# of 50,000 ids each) to /tmp/psflow/ctr_data once, then trains wide & deep
# on it with a local cluster (2 PS tasks, a chief, 2 workers, an evaluator)
# from configs/ctr_wide_deep.yaml.  Extra arguments go to psflow-launch.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh >/dev/null
data=/tmp/psflow/ctr_data
if [[ ! -f $data/eval-00000-of-00001.tfrecord ]]; then
  build/tools/psflow-gen-ctr --out "$data" --examples 1000000 --eval_examples 10000 --shards 4 --vocab 50000
fi
exec build/launch/psflow-launch configs/ctr_wide_deep.yaml "$@"
