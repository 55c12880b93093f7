#!/usr/bin/python3
"""The PyTorch peer of bench_hf_load: reads every *.safetensors file of DIR
the way safetensors' own `load_file` does on CPU (memory map, header, one
tensor view per entry) and converts each tensor to a fresh fp32 tensor, as
`from_pretrained(torch_dtype=float32)` ends up holding them. Prints one JSON
line like bench_hf_load. Usage: eager_load.py DIR [threads]"""
import json, mmap, os, struct, sys, time
import torch
DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}
d = sys.argv[1]
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else os.cpu_count())
files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".safetensors"))
t0 = time.perf_counter()
params = {}
for path in files:
    with open(path, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    n = struct.unpack("<Q", m[:8])[0]
    header = json.loads(m[8:8 + n])
    buf = torch.frombuffer(m, dtype=torch.uint8)
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        t = buf[8 + n + a:8 + n + b].view(DTYPES[e["dtype"]]).reshape(e["shape"])
        params[name] = t.to(torch.float32)
s = time.perf_counter() - t0
gb = sum(os.path.getsize(p) for p in files) / 1e9
print(json.dumps({"impl": "pytorch", "gb": round(gb, 3), "seconds": round(s, 3), "gb_s": round(gb / s, 2)}))
