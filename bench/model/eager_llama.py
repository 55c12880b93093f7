#!/usr/bin/python3
"""PyTorch eager baseline for bench/model: the same Llama (Hugging Face
modeling_llama eager semantics), batch, optimizer and thread count as
bench_model_train, timed the same way. Run with Debian's python3-torch.

  /usr/bin/python3 eager_llama.py --config cfg.json --batch 16 --seq 256 --steps 15 [--threads 2]

Without --threads, torch's default thread count is used (1 in Debian's build):
that is the "untuned" baseline. The "tuned" one adds --threads N and
GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1073741824.
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.nh, self.nkv, self.hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        d = c["hidden_size"]
        self.q_proj = nn.Linear(d, self.nh * self.hd, bias=False)
        self.k_proj = nn.Linear(d, self.nkv * self.hd, bias=False)
        self.v_proj = nn.Linear(d, self.nkv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.nh * self.hd, d, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv
        if rep > 1:
            k = k[:, :, None].expand(b, self.nkv, rep, t, self.hd).reshape(b, self.nh, t, self.hd)
            v = v[:, :, None].expand(b, self.nkv, rep, t, self.hd).reshape(b, self.nh, t, self.hd)
        scores = q @ k.transpose(2, 3) / math.sqrt(self.hd) + mask
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        out = (probs @ v).transpose(1, 2).reshape(b, t, self.nh * self.hd)
        return self.o_proj(out)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, f = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        hd = c["head_dim"]
        self.register_buffer("inv_freq", 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd)),
                             persistent=False)
        for name, p in self.named_parameters():
            if "norm" not in name:
                nn.init.normal_(p, 0.0, c["initializer_range"])

    def forward(self, tokens):
        b, t = tokens.shape
        freqs = torch.arange(t, dtype=torch.float32)[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((t, t), float("-inf")).triu(1)
        x = self.embed_tokens(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.lm_head(self.norm(x)).float()


def sgemm_gflops():
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    c = a @ b
    rates = []
    for _ in range(7):
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        rates.append(2 * n ** 3 / (time.perf_counter() - t0) / 1e9)
    return statistics.median(rates)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--preset", default="?")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="0: leave torch's default")
    ap.add_argument("--label", default="eager")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with open(args.config) as f:
        c = json.load(f)
    peak = sgemm_gflops()
    torch.manual_seed(42)
    model = Llama(c)
    decay = [p for n, p in model.named_parameters() if "norm" not in n and "embed_tokens" not in n]
    no_decay = [p for n, p in model.named_parameters() if "norm" in n or "embed_tokens" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    torch.manual_seed(7)
    tokens = torch.randint(c["vocab_size"], (args.batch, args.seq))
    times, cpu_times, losses = [], [], []
    for s in range(args.warmup + args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        logits = model(tokens)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        losses.append(loss.item())
        if s >= args.warmup:
            times.append(dt)
            cpu_times.append(time.process_time() - c0)
    step = statistics.median(times)
    d, L = c["hidden_size"], c["num_hidden_layers"]
    h, hd, kv, f, v = (c["num_attention_heads"], c["head_dim"], c["num_key_value_heads"],
                       c["intermediate_size"], c["vocab_size"])
    non_emb_with_head = L * (2 * d * h * hd + 2 * d * kv * hd + 3 * d * f + 2 * d) + d + v * d
    flops = 6 * non_emb_with_head + 12 * L * h * hd * args.seq
    tps = args.batch * args.seq / step
    print(json.dumps({"impl": args.label, "preset": args.preset, "batch": args.batch, "seq": args.seq,
                      "threads": torch.get_num_threads(), "steps": args.steps,
                      "median_step_s": round(step, 4),
                      "median_cpu_s": round(statistics.median(cpu_times), 4), "tokens_per_s": round(tps, 1),
                      "sgemm_gflops": round(peak, 1), "flops_per_token": flops,
                      "mfu": round(flops * tps / (peak * 1e9), 4),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "first_loss": round(losses[0], 4), "last_loss": round(losses[-1], 4)}))


if __name__ == "__main__":
    main()
