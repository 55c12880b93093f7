#!/usr/bin/env bash
# Runs the whole test suite (builds first if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/replay ] || scripts/setup.sh
# Chromium is for the tests only: the dashboard test (tests/serve) loads
# `replay serve`'s page in headless Chromium (and skips without it).
if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed"; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "test: installing chromium"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
fi
cmake --build build -j "$(nproc)"
cd build && ctest --output-on-failure -j "$(nproc)"
