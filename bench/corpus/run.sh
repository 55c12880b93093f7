#!/usr/bin/env bash
# Parquet read speed on ~SIZE_MB files written by the independent writer
# (tests/oracle/parquet_write.js: parquet-wasm, i.e. arrow-rs): snappy PLAIN
# (the common Hugging Face case), then zstd with dictionary encoding.
# Usage: bench/corpus/run.sh [BUILD_DIR] [SIZE_MB]   (default: build, 100)
# Needs BUILD_DIR/bench/corpus/bench_corpus_parquet, node + tests/oracle/node_modules.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SIZE_MB=${2:-100}
WORK=${WORK:-/tmp/replay_bench_corpus}
mkdir -p "$WORK"
for variant in "SNAPPY plain" "ZSTD dict"; do
  set -- $variant
  FILE="$WORK/bench_${SIZE_MB}mb_$1_$2.parquet"
  [ -f "$FILE" ] || node tests/oracle/parquet_write.js --bench "$FILE" "$SIZE_MB" "$1" "$2"
  "$BUILD/bench/corpus/bench_corpus_parquet" "$FILE" text "${REPS:-3}"
done
