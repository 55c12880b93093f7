#!/usr/bin/env bash
# Runs the whole test suite (builds first if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/replay ] || scripts/setup.sh
cmake --build build -j "$(nproc)"
cd build && ctest --output-on-failure -j "$(nproc)"
