#!/usr/bin/env bash
# Creates .venv with the test-only Python tools (tensorflow-cpu, tensorboard)
# used to check interoperability.  Never a runtime dependency of psflow.
# Idempotent: does nothing when tensorflow already imports from .venv.
# PSFLOW_SKIP_TF=1 skips it (the interop test then reports itself skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${PSFLOW_SKIP_TF:-0}" == "1" ]] && exit 0
if [[ -x .venv/bin/python ]] && .venv/bin/python -c "import tensorflow, tensorboard, yaml" >/dev/null 2>&1; then
  exit 0
fi
echo "psflow: installing tensorflow-cpu, tensorboard and pyyaml into .venv (test-only, a few minutes once)" >&2
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check tensorflow-cpu tensorboard pyyaml
