#!/usr/bin/env bash
# Loading a Hugging Face checkpoint against `cat` reading the same files:
# a 1.3 GB bf16 directory (make_hf_dir.py load: 638M parameters, 3 shards)
# loaded into Replay's fp32 model by bench_hf_load (model::load_hf_model),
# side by side with `cat shards > /dev/null`, ROUNDS rounds, each:
#   cold: the shards evicted from the page cache (dd iflag=nocache, which
#         needs no root), then read: disk speed;
#   warm: the shards in the page cache: memory speed, where the bf16 -> fp32
#         conversion and first-touch page faults of the 2.6 GB model show.
# The PyTorch peer (eager_load.py: safetensors' mmap reading + .to(float32)
# per tensor, Debian python3-torch) runs alongside. Prints medians and the
# ratios load / cat and load / PyTorch.
#   ROUNDS=5 bench/model/hf_load.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
ROUNDS=${ROUNDS:-5}
cmake --build "$BUILD" --target bench_hf_load >/dev/null
WORK=$(mktemp -d -p "${TMPDIR:-/tmp}")
trap 'rm -rf "$WORK"' EXIT
/usr/bin/python3 bench/model/make_hf_dir.py "$WORK/src" load
sync
shards=("$WORK"/src/*.safetensors)
evict() { for f in "${shards[@]}"; do dd if="$f" iflag=nocache count=0 status=none; done; }
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); awk "BEGIN {print $t1 - $t0}"; }
seconds_of() { sed 's/.*"seconds": \([0-9.]*\).*/\1/'; }
load() { "$BUILD"/bench/model/bench_hf_load "$WORK/src" | seconds_of; }
peer() { /usr/bin/python3 bench/model/eager_load.py "$WORK/src" 2>/dev/null | seconds_of; }
declare -a cat_cold load_cold peer_cold cat_warm load_warm peer_warm
for ((r = 0; r < ROUNDS; r++)); do
  evict; cat_cold+=("$(secs cat "${shards[@]}")")
  evict; load_cold+=("$(load)")
  evict; peer_cold+=("$(peer)")
  cat "${shards[@]}" >/dev/null
  cat_warm+=("$(secs cat "${shards[@]}")")
  load_warm+=("$(load)")
  peer_warm+=("$(peer)")
  echo "round $r: cold cat ${cat_cold[-1]} s, load ${load_cold[-1]} s, pytorch ${peer_cold[-1]} s;" \
       "warm cat ${cat_warm[-1]} s, load ${load_warm[-1]} s, pytorch ${peer_warm[-1]} s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
gb=$(du -cb "${shards[@]}" | tail -1 | awk '{print $1 / 1e9}')
for mode in cold warm; do
  c=$(median $(eval echo "\${cat_$mode[@]}")); l=$(median $(eval echo "\${load_$mode[@]}"))
  p=$(median $(eval echo "\${peer_$mode[@]}"))
  awk -v m="$mode" -v g="$gb" -v c="$c" -v l="$l" -v p="$p" 'BEGIN {
    printf "%s: %.2f GB, cat %.3f s (%.2f GB/s), load %.3f s (%.2f GB/s), pytorch %.3f s; load / cat %.2fx, load / pytorch %.2fx\n",
      m, g, c, g / c, l, g / l, p, l / c, l / p }'
done
