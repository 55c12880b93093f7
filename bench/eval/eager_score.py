#!/usr/bin/python3
"""PyTorch eager baseline for bench/eval: multiple-choice scoring written
plainly, as a typical user would: the Hugging Face-style Llama of
bench/model/eager_llama.py loaded with the directory's weights (fp32), requests
sorted by length and right-padded into batches of at most --batch-tokens
padded tokens, full logits [B, T, V] -> log_softmax -> gather the continuation
tokens. Same token ids as Replay (bench_eval_requests writes them).

  /usr/bin/python3 eager_score.py HF_DIR REQUESTS.json --threads N --rounds R --out SCORES.json
Prints one line per round: "eager round i: S s, X items/s".
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "model"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "model"))
import eager_llama  # noqa: E402
import reference_llama  # noqa: E402  (safetensors reader, config normalization)


def load(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = reference_llama.normalize_config(json.load(f))
    cfg["initializer_range"] = 0.02
    model = eager_llama.Llama(cfg)
    weights = reference_llama.read_weights(d)
    state = {k[len("model."):] if k.startswith("model.") else k: v.float() for k, v in weights.items()}
    if "lm_head.weight" not in state:
        state["lm_head.weight"] = state["embed_tokens.weight"]
    model.load_state_dict(state)
    return model.eval()


def score_all(model, requests, batch_tokens):
    order = sorted(range(len(requests)), key=lambda i: -len(requests[i]["ids"]))
    scores = [0.0] * len(requests)
    i = 0
    while i < len(order):
        t = len(requests[order[i]]["ids"]) - 1
        j = i + 1
        while j < len(order) and (j - i + 1) * t <= batch_tokens:
            j += 1
        batch = [requests[k] for k in order[i:j]]
        inp = torch.zeros(len(batch), t, dtype=torch.long)
        for b, r in enumerate(batch):
            inp[b, : len(r["ids"]) - 1] = torch.tensor(r["ids"][:-1])
        logprobs = torch.log_softmax(model(inp), dim=-1)  # [B, T, V]
        for b, r in enumerate(batch):
            n, c = len(r["ids"]), r["continuation"]
            pos = torch.arange(n - c - 1, n - 1)
            target = torch.tensor(r["ids"][n - c:])
            scores[order[i + b]] = logprobs[b, pos, target].double().sum().item()
        i = j
    return scores


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("hf_dir")
    ap.add_argument("requests")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-tokens", type=int, default=2048)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load(args.hf_dir)
    with open(args.requests) as f:
        h = json.load(f)
    n_items = len(h["items"])
    rates = []
    with torch.no_grad():
        for r in range(args.rounds):
            t0 = time.perf_counter()
            scores = score_all(model, h["requests"], args.batch_tokens)
            dt = time.perf_counter() - t0
            rates.append(n_items / dt)
            print(f"eager round {r}: {dt:.2f} s, {n_items / dt:.1f} items/s", flush=True)
    with open(args.out, "w") as f:
        json.dump({"scores": scores, "items_per_second": statistics.median(rates)}, f)


if __name__ == "__main__":
    main()
