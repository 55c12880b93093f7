#!/usr/bin/python3
"""A Hugging Face Llama directory of random bf16 weights, written here with
struct + json, not by Replay. Shapes: `150m4k` (default; shards of at most
100 MB, for bench/model/hf_import.sh) and `load` (a 1.3 GB checkpoint of
665M parameters in shards of at most 500 MB, for bench/model/hf_load.sh).
Usage: make_hf_dir.py DIR [150m4k|load]"""
import json, os, struct, sys
import torch
def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for n, t in tensors.items():
        b = t.contiguous().view(torch.int16).numpy().tobytes()
        header[n] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode(); h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs: f.write(b)
d = sys.argv[1]; os.makedirs(d, exist_ok=True)
shape = sys.argv[2] if len(sys.argv) > 2 else "150m4k"
dim, ffn, L, H, KV, hd, V = {"150m4k": (512, 1792, 6, 8, 8, 64, 128256),
                             "load": (1024, 4096, 24, 16, 8, 64, 128256)}[shape]
shard_limit = {"150m4k": 100_000_000, "load": 500_000_000}[shape]
cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": dim,
       "intermediate_size": ffn, "num_hidden_layers": L, "num_attention_heads": H,
       "num_key_value_heads": KV, "vocab_size": V, "max_position_embeddings": 4096,
       "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "torch_dtype": "bfloat16"}
json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
names = [("model.embed_tokens.weight", (V, dim))]
for i in range(L):
    p = f"model.layers.{i}."
    names += [(p+"input_layernorm.weight", (dim,)), (p+"self_attn.q_proj.weight", (H*hd, dim)),
              (p+"self_attn.k_proj.weight", (KV*hd, dim)), (p+"self_attn.v_proj.weight", (KV*hd, dim)),
              (p+"self_attn.o_proj.weight", (dim, H*hd)), (p+"post_attention_layernorm.weight", (dim,)),
              (p+"mlp.gate_proj.weight", (ffn, dim)), (p+"mlp.up_proj.weight", (ffn, dim)),
              (p+"mlp.down_proj.weight", (dim, ffn))]
names += [("model.norm.weight", (dim,)), ("lm_head.weight", (V, dim))]
shards, cur, size = [], {}, 0
for n, s in names:
    t = (torch.randn(s) * 0.02).to(torch.bfloat16)
    b = t.numel() * 2
    if cur and size + b > shard_limit:
        shards.append(cur); cur, size = {}, 0
    cur[n] = t; size += b
shards.append(cur)
wm, total = {}, 0
for i, sh in enumerate(shards):
    fn = "model-%05d-of-%05d.safetensors" % (i + 1, len(shards))
    write_safetensors(os.path.join(d, fn), sh)
    for n, t in sh.items(): wm[n] = fn; total += t.numel() * 2
json.dump({"metadata": {"total_size": total}, "weight_map": wm}, open(os.path.join(d, "model.safetensors.index.json"), "w"))
print(len(shards), "shards", total, "bytes")
