#!/usr/bin/env bash
# Memory estimate vs measured peak: runs the real `replay train` for two steps
# (with an evaluation and a checkpoint, the steps that allocate most) on
# several model shapes and prints the trainer's estimate (run/run_config.h,
# estimate_training_memory) next to the peak RSS the kernel measured.
#   bench/train/memory.sh [BUILD_DIR]      (needs data/micro: run `replay demo` once)
# The estimate's coefficients are calibrated on this table; the memory gate
# admits runs whose estimate is at most 85% of physical memory. The last row
# repeats d512-mb64 with per-layer activation checkpointing.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-build}/replay
[ -d data/micro/stores/generic ] || { echo "data/micro is missing: run '$BIN demo' once" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# Two steps of a one-stage schedule, an evaluation and a checkpoint after each.
COMMON=(--set train.steps=2 --set schedule.f=0.5 --set schedule.e=1 --set schedule.block_size=1
        --set eval.every=1 --set eval.sequences=32 --set checkpoint.every=1)
D512=(--set model.dim=512 --set model.n_heads=8 --set model.n_kv_heads=8 --set model.head_dim=64
      --set model.ffn_dim=1792 --set model.n_layers=8)

printf "%-18s %12s %14s %14s %10s\n" shape parameters "estimate MiB" "measured MiB" "est/meas"
measure() {
  local label=$1; shift
  local log=$WORK/$label.log
  /usr/bin/time -f "%M" -o "$WORK/$label.rss" "$BIN" train configs/micro/base.toml \
    --set "out=\"$WORK/$label\"" "${COMMON[@]}" "$@" > "$log" 2>&1 || { cat "$log"; exit 1; }
  local est params meas
  est=$(sed -n 's/.*peak memory about \([0-9]*\) MiB.*/\1/p' "$log" | head -1)
  params=$(sed -n 's/.*training \([0-9]*\) parameters.*/\1/p' "$log" | head -1)
  meas=$(( $(tail -1 "$WORK/$label.rss") / 1024 ))
  printf "%-18s %12s %14s %14s %10s\n" "$label" "$params" "$est" "$meas" \
    "$(awk -v e="$est" -v m="$meas" 'BEGIN { printf "%.2f", e / m }')"
}

measure micro-mb1 --set train.microbatch=1
measure micro-mb16
measure micro-mb64 --set train.batch_size=64 --set train.microbatch=64
measure micro-v32k --set model.vocab_size=32768
measure micro-v32k-mb64 --set model.vocab_size=32768 --set train.batch_size=64 --set train.microbatch=64
measure d512-mb16 "${D512[@]}"
measure d512-mb64 "${D512[@]}" --set train.batch_size=64 --set train.microbatch=64
measure gpt2-124m-mb16 --set 'model.preset="gpt2-124m"' --set model.max_seq_len=128 --set model.vocab_size=50257
measure 150m-v128k-mb8 --set 'model.preset="150m4k"' --set model.max_seq_len=128 --set model.vocab_size=128256 \
  --set train.microbatch=8
# Per-layer activation checkpointing: the same run, less memory.
measure d512-mb64-ckpt "${D512[@]}" --set train.batch_size=64 --set train.microbatch=64 \
  --set train.activation_checkpointing=true
