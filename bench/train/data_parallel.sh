#!/usr/bin/env bash
# Data parallelism on CPU: for 2 Gloo ranks on this machine (`replay launch
# --nproc 2`), unsharded and with the optimizer state sharded
# (train.shard_optimizer), the communication time per step and its share of
# the step (allreduce_s: the gradient all-reduce; allgather_s, sharded only:
# the norm's reduction and the parameter all-gather), for the micro preset
# and the gpt2-124m shape; and the step time of a
# world of one (a plain `replay train`) for an old binary and this one, side
# by side. On a 2-core machine 2 ranks exist for correctness, not speed: each
# rank gets one core and half the batch, so the step time says nothing about
# scaling, only what the all-reduce costs next to the compute.
#   bench/train/data_parallel.sh [BUILD_DIR] [OLD_BINARY]   (needs data/micro: run `replay demo` once)
# MICRO_STEPS (default 8) and GPT2_STEPS (default 3) steps per run, one
# thread per process; MODELS (default "micro gpt2-124m") picks the shapes.
# Each figure is the median over steps 2..N of a run (the first step is
# left out: allocation, first touch). gpt2-124m runs a global batch of 4 x 128 tokens
# (microbatch 2) so that a step takes seconds, not minutes, on one core.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(realpath "${1:-build}/replay")
OLD=${2:-}
DATA=${DATA:-data/micro}
MICRO_STEPS=${MICRO_STEPS:-8}
MODELS=${MODELS:-micro gpt2-124m}
GPT2_STEPS=${GPT2_STEPS:-3}
[ -d "$DATA/stores/generic" ] || { echo "$DATA is missing: run '$BIN demo' once (or set DATA)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# A one-stage schedule, no evaluation or checkpoint inside the measured steps.
COMMON=(--set schedule.f=0.5 --set schedule.e=1 --set schedule.block_size=1
        --set eval.every=0 --set eval.sequences=0 --set checkpoint.every=0 --set threads=1
        --set "data.tokenizer=\"$DATA/tokenizer.json\""
        --set "data.sources.generic.store=\"$DATA/stores/generic\""
        --set "data.sources.target.store=\"$DATA/stores/math\"")
MICRO=(--set train.steps="$MICRO_STEPS")
GPT2=(--set 'model.preset="gpt2-124m"' --set model.max_seq_len=128 --set model.vocab_size=50257
      --set train.batch_size=4 --set train.microbatch=2 --set train.steps="$GPT2_STEPS")

# median of a metrics.jsonl field over steps 2..STEPS (0 when the field is absent)
median() { grep '"kind":"step"' "$1" | tail -n +2 | sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p" | sort -g |
           awk '{ v[n++] = $1 } END { printf "%.4f", n ? (n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0 }'; }

run() {  # label, binary, launch-or-train args...
  local label=$1 bin=$2; shift 2
  "$bin" "$@" --set "out=\"$WORK/$label\"" "${COMMON[@]}" > "$WORK/$label.log" 2>&1 ||
    { cat "$WORK/$label.log"; exit 1; }
}

printf "%-12s %6s %-10s %10s %14s %14s %10s\n" model ranks optimizer "step s" "all-reduce s" "all-gather s" fraction
for model in $MODELS; do
  extra=("${MICRO[@]}"); [ "$model" = gpt2-124m ] && extra=("${GPT2[@]}")
  for shard in false true; do
    label="$model-dp2-shard-$shard"
    run "$label" "$BIN" launch --nproc 2 --port $((29600 + RANDOM % 1000)) -- train configs/micro/base.toml \
      "${extra[@]}" --set train.shard_optimizer=$shard
    step=$(median "$WORK/$label/metrics.jsonl" step_s)
    ar=$(median "$WORK/$label/metrics.jsonl" allreduce_s)
    ag=$(median "$WORK/$label/metrics.jsonl" allgather_s)
    printf "%-12s %6s %-10s %10s %14s %14s %10s\n" "$model" 2 "$([ $shard = true ] && echo sharded || echo whole)" \
      "$step" "$ar" "$ag" "$(awk -v a="$ar" -v g="$ag" -v s="$step" 'BEGIN { printf "%.3f", (a + g) / s }')"
  done
done

echo
printf "%-12s %-40s %10s\n" model "world of one: binary" "step s"
for model in $MODELS; do
  extra=("${MICRO[@]}"); [ "$model" = gpt2-124m ] && extra=("${GPT2[@]}")
  for bin in ${OLD:+"$OLD"} "$BIN"; do
    label="$model-one-$(echo "$bin" | md5sum | cut -c1-8)"
    run "$label" "$bin" train configs/micro/base.toml "${extra[@]}"
    printf "%-12s %-40s %10s\n" "$model" "$bin" "$(median "$WORK/$label/metrics.jsonl" step_s)"
  done
done
