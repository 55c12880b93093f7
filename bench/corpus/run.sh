#!/usr/bin/env bash
# Parquet read speed on a ~SIZE_MB snappy file written by the independent
# writer (tests/oracle/parquet_write.js: parquet-wasm, i.e. arrow-rs).
# Usage: bench/corpus/run.sh [BUILD_DIR] [SIZE_MB]   (default: build, 100)
# Needs BUILD_DIR/bench/corpus/bench_corpus_parquet, node + tests/oracle/node_modules.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SIZE_MB=${2:-100}
WORK=${WORK:-/tmp/replay_bench_corpus}
mkdir -p "$WORK"
FILE="$WORK/bench_${SIZE_MB}mb.parquet"
[ -f "$FILE" ] || node tests/oracle/parquet_write.js --bench "$FILE" "$SIZE_MB"
"$BUILD/bench/corpus/bench_corpus_parquet" "$FILE" text "${REPS:-3}"
