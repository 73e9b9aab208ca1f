#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs dependencies (apt, and
# tensorflow-cpu into .venv for the interop test), builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --data
scripts/pyenv.sh
scripts/build.sh
export PSFLOW_MIN_LOG_LEVEL=${PSFLOW_MIN_LOG_LEVEL:-1}  # keep test logs to warnings and errors
ctest --test-dir "${PSFLOW_BUILD_DIR:-build}" --output-on-failure -j 2
# The fuzz targets' smoke: each light target 15 s on its committed corpus.
scripts/fuzz.sh 15 --light
