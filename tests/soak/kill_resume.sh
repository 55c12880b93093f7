#!/usr/bin/env bash
# Soak test (not in CI: minutes): SIGKILL `replay train` at random moments,
# many times, rerunning the same command after each kill, until the run
# completes; then the run's per-step losses, evaluations and final weights
# must equal an uninterrupted run's, bit for bit. Kills land anywhere: during
# start-up, mid-step, inside checkpoint writes.
#   tests/soak/kill_resume.sh [BUILD_DIR] [KILLS]   (needs data/micro: run `replay demo` once)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-build}/replay
KILLS=${2:-65}
[ -d data/micro/stores/generic ] || { echo "data/micro is missing: run '$BIN demo' once" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The micro mid-training run, checkpointing often so that kills hit writes.
ARGS=(train configs/micro/base.toml --set 'schedule.protocol="mid-training"' --set schedule.rho=0.5
      --set schedule.alpha=1 --set checkpoint.every=4 --set threads=2)

"$BIN" "${ARGS[@]}" --set "out=\"$WORK/reference\"" > "$WORK/reference.log" 2>&1
kills=0
while :; do
  "$BIN" "${ARGS[@]}" --set "out=\"$WORK/victim\"" >> "$WORK/victim.log" 2>&1 &
  pid=$!
  if [ "$kills" -ge "$KILLS" ]; then
    wait "$pid"  # enough kills: the last attempt must complete
    break
  fi
  sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", 0.3 + 2.2 * r / 32767 }')"
  if kill -9 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || true
    kills=$((kills + 1))
    continue
  fi
  wait "$pid"  # finished before the kill: it must have succeeded
  break
done
python3 - "$WORK/reference/metrics.jsonl" "$WORK/victim/metrics.jsonl" <<'PY'
import json, sys
def steps(path):
    lines = [json.loads(l) for l in open(path)]
    return [(l["step"], l["loss"]) for l in lines if l.get("kind") == "step"], \
           [l for l in lines if l.get("kind") == "eval"]
(a, ea), (b, eb) = steps(sys.argv[1]), steps(sys.argv[2])
assert a == b, "step losses differ"
assert [e["val"] for e in ea] == [e["val"] for e in eb], "evaluations differ"
print(f"{len(a)} step losses and {len(ea)} evaluations identical")
PY
ref=$(ls -d "$WORK"/reference/checkpoints/step-* | tail -1)
vic=$(ls -d "$WORK"/victim/checkpoints/step-* | tail -1)
for f in "$ref"/*.safetensors; do cmp "$f" "$vic/$(basename "$f")"; done
echo "$kills kills, resumed each time: final checkpoint $(basename "$vic") identical to the uninterrupted run's ($(ls "$ref"/*.safetensors | wc -l) tensor files)"
