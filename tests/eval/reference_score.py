#!/usr/bin/python3
"""Test oracle for replay eval: lm-evaluation-harness's loglikelihood scoring
written independently over tests/model/reference_llama.py's float64 forward.

Usage: /usr/bin/python3 reference_score.py HF_DIR HANDOFF.json OUT.json
HANDOFF: {"requests": [{"ids": [whole sequence, untruncated],
                        "continuation": number of continuation tokens}],
          "items": [{"choices": [continuation strings], "gold": g}]}
(requests in item then choice order). Each request is scored alone (no
padding): lm-eval's inp = (ctx + cont)[-(max_length + 1):][:-1], summed
log-softmax of the continuation tokens. acc/acc_norm: np.argmax semantics
(first on ties), acc_norm divides by len(choice) in characters.
OUT: {"scores": [...], "acc": a, "acc_norm": b}
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "model"))
import reference_llama as ref  # noqa: E402


def score(cfg, w, ids, cont, max_len):
    seq = ids[-(max_len + 1):]
    logits = ref.forward(cfg, w, torch.tensor([seq[:-1]]))[0]
    lp = torch.log_softmax(logits, dim=-1)
    n = len(seq)
    return float(sum(lp[i, seq[i + 1]] for i in range(n - cont - 1, n - 1)))


def first_argmax(values):
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def main():
    d, handoff, out = sys.argv[1:4]
    with open(os.path.join(d, "config.json")) as f:
        cfg = ref.normalize_config(json.load(f))
    w = {k: v.to(torch.float64) for k, v in ref.read_weights(d).items()}
    with open(handoff) as f:
        h = json.load(f)
    max_len = cfg["max_position_embeddings"]
    scores = [score(cfg, w, r["ids"], r["continuation"], max_len) for r in h["requests"]]
    acc = acc_norm = 0
    k = 0
    for item in h["items"]:
        s = scores[k:k + len(item["choices"])]
        k += len(item["choices"])
        acc += first_argmax(s) == item["gold"]
        acc_norm += first_argmax([v / len(c) for v, c in zip(s, item["choices"])]) == item["gold"]
    n = len(h["items"])
    with open(out, "w") as f:
        json.dump({"scores": scores, "acc": acc / n, "acc_norm": acc_norm / n}, f)


if __name__ == "__main__":
    main()
