#!/usr/bin/env bash
# The main job: a local cluster (2 PS tasks, a chief, 2 workers, an
# evaluator) trains dnn_classifier on Fashion-MNIST (installed with apt-get)
# from configs/fashion_mnist.yaml, checkpoints to its model_dir, and prints
# the evaluator's test accuracy at the end.  Run again, it resumes from
# model_dir.  Extra arguments go to psflow-launch (e.g. --set
# run.train_steps=20000, --verbose, --dry-run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --data
scripts/build.sh >/dev/null
exec build/launch/psflow-launch configs/fashion_mnist.yaml "$@"
