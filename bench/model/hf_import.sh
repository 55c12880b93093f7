#!/usr/bin/env bash
# Peak host memory of importing a Hugging Face directory: `replay model
# export` of a 150m4k-shaped bf16 directory (3 shards, largest 131 MB) to
# bf16 again, under /usr/bin/time -v, against `replay model list` (libtorch
# loaded, no model). Expected: baseline + fp32 model (616 MB) + about one
# shard. Then a second export of the first and a byte comparison.
#   bench/model/hf_import.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
REPLAY=${1:-build}/replay
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
/usr/bin/python3 bench/model/make_hf_dir.py "$WORK/src"
rss() { grep "Maximum resident" "$1" | awk '{printf "%.0f MiB", $NF / 1024}'; }
/usr/bin/time -v "$REPLAY" model list >/dev/null 2>"$WORK/t0"
/usr/bin/time -v "$REPLAY" model export "$WORK/src" "$WORK/a" --dtype bf16 --shard-size 100MB 2>"$WORK/t1"
/usr/bin/time -v "$REPLAY" model export "$WORK/a" "$WORK/b" --dtype bf16 --shard-size 100MB 2>"$WORK/t2"
echo "baseline (model list): $(rss "$WORK/t0")"
echo "import + export:       $(rss "$WORK/t1"), $(grep 'Elapsed' "$WORK/t1" | awk '{print $NF}') wall"
echo "re-export:             $(rss "$WORK/t2")"
for f in "$WORK"/a/*; do cmp "$f" "$WORK/b/$(basename "$f")"; done && echo "re-export byte-identical"
