#!/usr/bin/env bash
# Side-by-side training-step benchmark: Replay vs PyTorch eager (Debian's
# python3-torch), same model, batch, optimizer and thread count, in one run.
#   [ROUNDS=3] bench/model/run.sh [BUILD_DIR] [micro|gpt2-124m|all]
# Eager "tuned" = torch.set_num_threads(N) + glibc malloc tunables;
# eager "untuned" = torch and glibc defaults (Debian's torch starts at 1 thread).
# Order is interleaved (replay, tuned, untuned, then replay, tuned per further
# round) so that load from other processes hits both sides; the medians over
# the rounds are compared, and the per-round ratios are printed as well.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
WHICH=${2:-all}
BENCH=$BUILD/bench/model/bench_model_train
PY=/usr/bin/python3
THREADS=$(nproc)
ROUNDS=${ROUNDS:-3}
TUNE="glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1073741824"
RESULTS=$(mktemp)
trap 'rm -f "$RESULTS" "$RESULTS".cfg' EXIT

run() {
  local preset=$1 batch=$2 seq=$3 steps=$4 warmup=$5
  "$BENCH" --preset "$preset" --print-config > "$RESULTS.cfg"
  local common=(--batch "$batch" --seq "$seq" --steps "$steps" --warmup "$warmup")
  for round in $(seq "$ROUNDS"); do
    "$BENCH" --preset "$preset" "${common[@]}" --threads "$THREADS" | tee -a "$RESULTS"
    GLIBC_TUNABLES=$TUNE "$PY" bench/model/eager_llama.py --config "$RESULTS.cfg" --preset "$preset" \
      "${common[@]}" --threads "$THREADS" --label eager-tuned | tee -a "$RESULTS"
    if [ "$round" = 1 ]; then
      "$PY" bench/model/eager_llama.py --config "$RESULTS.cfg" --preset "$preset" "${common[@]}" \
        --label eager-untuned | tee -a "$RESULTS"
    fi
  done
}

case "$WHICH" in
  micro) run micro 16 256 12 3 ;;
  gpt2-124m) run gpt2-124m 1 1024 3 1 ;;
  all) run micro 16 256 12 3; run gpt2-124m 1 1024 3 1 ;;
  *) echo "usage: $0 [BUILD_DIR] [micro|gpt2-124m|all]" >&2; exit 2 ;;
esac

"$PY" - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print("\npreset      impl           tokens/s   step s    MFU   peak RSS MiB  (median over rounds)")
for preset in dict.fromkeys(r["preset"] for r in rows):
    best = {}
    for impl in ("replay", "eager-tuned", "eager-untuned"):
        rs = [r for r in rows if r["preset"] == preset and r["impl"] == impl]
        if not rs:
            continue
        tps = statistics.median(r["tokens_per_s"] for r in rs)
        best[impl] = tps
        print(f"{preset:11} {impl:13} {tps:9.1f} {statistics.median(r['median_step_s'] for r in rs):8.3f}"
              f" {statistics.median(r['mfu'] for r in rs):6.1%} {max(r['peak_rss_mib'] for r in rs):10.0f}")
    for base in ("eager-tuned", "eager-untuned"):
        if base in best and "replay" in best:
            print(f"{preset:11} replay / {base}: {best['replay'] / best[base]:.2f}x")
    mine = [r["tokens_per_s"] for r in rows if r["preset"] == preset and r["impl"] == "replay"]
    tuned = [r["tokens_per_s"] for r in rows if r["preset"] == preset and r["impl"] == "eager-tuned"]
    print(f"{preset:11} per-round replay / eager-tuned: " +
          " ".join(f"{a / b:.2f}x" for a, b in zip(mine, tuned)))
PY
