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
# TensorBoard's own reader is the oracle of the event files `replay train`
# writes (tests/train/tensorboard_test.cpp, which skips without it): a venv
# for the tests only, from Debian's python3 and python3-venv, with the
# versions pinned in tests/oracle/requirements.txt from PyPI: 178 MB, 16 s, 29 s
# and 99 s in three installs from scratch on a 2-core machine (2026-11-30).
# Made again whenever the requirements change. Offline, the install fails,
# the venv is removed and those tests skip, saying so.
venv=build/oracle-venv
if ! dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q "install ok installed"; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "test: installing python3-venv"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv
fi
if [ ! -f "$venv/installed.txt" ] || [ tests/oracle/requirements.txt -nt "$venv/installed.txt" ]; then
  echo "test: creating $venv (tests/oracle/requirements.txt)"
  rm -rf "$venv"
  if /usr/bin/python3 -m venv "$venv" &&
     "$venv/bin/pip" install -q --disable-pip-version-check --no-cache-dir -r tests/oracle/requirements.txt; then
    cp tests/oracle/requirements.txt "$venv/installed.txt"
  else
    echo "test: could not install tests/oracle/requirements.txt (offline?); the TensorBoard reader tests will skip"
    rm -rf "$venv"
  fi
fi
cmake --build build -j "$(nproc)"
cd build && ctest --output-on-failure -j "$(nproc)"
