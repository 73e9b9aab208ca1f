#!/usr/bin/env bash
# Installs every build and test dependency of psflow from Debian's packages.
# Idempotent: when everything is present it prints nothing and exits 0.
# Usage: scripts/deps.sh            (build + test dependencies)
#        scripts/deps.sh --data     (also the Fashion-MNIST data set)
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git python3 python3-venv
  libboost-dev protobuf-compiler libprotobuf-dev libeigen3-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libleveldb-dev zlib1g-dev libcli11-dev libfarmhash-dev libdnnl-dev libssl-dev
  clang libclang-rt-dev openssl
)
if [[ "${1:-}" == "--data" ]]; then
  PACKAGES+=(dataset-fashion-mnist)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "psflow deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
