#!/usr/bin/env python3
"""Tiny random Hugging Face model folders of the llama family and an independent reference forward, in plain PyTorch.

Written from the published definitions and the config.json fields, sharing no code with Pretrain and not using the
transformers library: RMSNorm (Zhang and Sennrich 2019); rotary embeddings in the "rotate-half" pairing
(x[j], x[j + d/2]) with inverse frequency theta^(-2j/d) (Su et al. 2021), and Llama 3's rope scaling (Meta's
Llama 3.1 reference: wavelengths above original/low_freq_factor divided by factor, below original/high_freq_factor
kept, smooth blend between); grouped-query attention (Ainslie et al. 2023: query head h reads key/value head
h // (H / Hkv)); Qwen2's biases on q/k/v; Qwen3's RMSNorm over each query and key head before RoPE, with head_dim
from config.json; Mistral's sliding window (query i sees keys j with i - W < j <= i); Phi-3's fused qkv_proj
(rows q|k|v) and gate_up_proj (rows gate|up); SwiGLU MLP down(silu(gate) * up) (Shazeer 2020). Computes in float64.

Usage: llama_family_reference.py CASE OUT_DIR [VOCAB_SIZE]
(VOCAB_SIZE, default 61: the fine-tuning tests give the model room for a byte-level tokenizer's 256 + special ids.)
Writes OUT_DIR/config.json, the weights (model.safetensors, or two shards and model.safetensors.index.json),
OUT_DIR/inputs.safetensors ("input_ids" int64 [B, T]) and OUT_DIR/reference_logits.safetensors ("logits" float32
[B, T, V], computed from the weights as read back from the files written).
"""
import json
import math
import os
import struct
import sys

import torch

DTYPES = {"F64": torch.float64, "F32": torch.float32, "BF16": torch.bfloat16, "I64": torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}

# Tiny shapes; each case switches on what its model_type has.
BASE = dict(vocab_size=61, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-6, rope_theta=10000.0,
            hidden_act="silu", tie_word_embeddings=False)
CASES = {
    # hd = 8: inverse frequencies 1, 0.1, 0.01, 0.001 -> wavelengths 6.3 (kept), 63 (blended), 628, 6283 (divided)
    "llama3": dict(model_type="llama", architectures=["LlamaForCausalLM"], attention_bias=False, mlp_bias=False,
                   rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                     original_max_position_embeddings=64), dtype="bf16", shards=2),
    "qwen2": dict(model_type="qwen2", architectures=["Qwen2ForCausalLM"], tie_word_embeddings=True,
                  use_sliding_window=False, sliding_window=None, rope_theta=1000000.0),
    "qwen3": dict(model_type="qwen3", architectures=["Qwen3ForCausalLM"], head_dim=16, attention_bias=False,
                  use_sliding_window=False, sliding_window=None, dtype="bf16"),
    "mistral": dict(model_type="mistral", architectures=["MistralForCausalLM"], sliding_window=4),
    "phi3": dict(model_type="phi3", architectures=["Phi3ForCausalLM"], num_key_value_heads=4, sliding_window=6,
                 rope_scaling=None, shards=2),
}
BATCH, SEQ = 2, 12


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        raw = bytes(t.contiguous().reshape(-1).view(torch.uint8).tolist())
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(chunks))


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[8 + n + begin:8 + n + end]), dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
    return out


def random_weights(cfg, gen):
    """Hugging Face names and shapes of the *ForCausalLM, drawn large enough that attention is far from uniform."""
    d, h, kv, m = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["intermediate_size"]
    hd = cfg.get("head_dim", d // h)
    kind = cfg["model_type"]

    def lin(out_dim, in_dim):
        return torch.randn(out_dim, in_dim, generator=gen, dtype=torch.float64) * (1.5 / math.sqrt(in_dim))

    def norm(n):
        return 1 + 0.2 * torch.randn(n, generator=gen, dtype=torch.float64)

    w = {"model.embed_tokens.weight": torch.randn(cfg["vocab_size"], d, generator=gen, dtype=torch.float64)}
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        w[p + "input_layernorm.weight"] = norm(d)
        w[p + "post_attention_layernorm.weight"] = norm(d)
        if kind == "phi3":
            w[p + "self_attn.qkv_proj.weight"] = lin(h * hd + 2 * kv * hd, d)
            w[p + "mlp.gate_up_proj.weight"] = lin(2 * m, d)
        else:
            for n, rows in (("q_proj", h * hd), ("k_proj", kv * hd), ("v_proj", kv * hd)):
                w[p + "self_attn.%s.weight" % n] = lin(rows, d)
                if kind == "qwen2":
                    w[p + "self_attn.%s.bias" % n] = 0.3 * torch.randn(rows, generator=gen, dtype=torch.float64)
            w[p + "mlp.gate_proj.weight"] = lin(m, d)
            w[p + "mlp.up_proj.weight"] = lin(m, d)
        if kind == "qwen3":
            w[p + "self_attn.q_norm.weight"] = norm(hd)
            w[p + "self_attn.k_norm.weight"] = norm(hd)
        w[p + "self_attn.o_proj.weight"] = lin(d, h * hd)
        w[p + "mlp.down_proj.weight"] = lin(d, m)
    w["model.norm.weight"] = norm(d)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = lin(cfg["vocab_size"], d)
    return w


def rms_norm(x, weight, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight


def inverse_frequencies(cfg, hd):
    inv = cfg["rope_theta"] ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    rs = cfg.get("rope_scaling")
    if not rs or rs.get("rope_type", rs.get("type")) == "default":
        return inv
    assert rs["rope_type"] == "llama3", rs
    factor, low, high, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
    out = []
    for f in inv.tolist():
        wavelen = 2 * math.pi / f
        if wavelen < old / high:
            out.append(f)
        elif wavelen > old / low:
            out.append(f / factor)
        else:
            s = (old / wavelen - low) / (high - low)
            out.append((1 - s) * f / factor + s * f)
    return torch.tensor(out, dtype=torch.float64)


def rope(x, inv):
    """x (B, H, T, D): pair (x[j], x[j + D/2]) rotated by position * inv[j]."""
    t, d = x.shape[-2], x.shape[-1]
    angle = torch.arange(t, dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = torch.cos(angle), torch.sin(angle)
    lo, hi = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([lo * cos - hi * sin, hi * cos + lo * sin], dim=-1)


def forward(cfg, w, ids):
    d, h, kv, m = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["intermediate_size"]
    hd = cfg.get("head_dim", d // h)
    eps, kind = cfg["rms_norm_eps"], cfg["model_type"]
    window = cfg.get("sliding_window") if kind in ("mistral", "phi3") else None
    b, t = ids.shape
    w = {k: v.to(torch.float64) for k, v in w.items()}
    inv = inverse_frequencies(cfg, hd)
    qi, kj = torch.arange(t)[:, None], torch.arange(t)[None, :]
    allowed = kj <= qi
    if window is not None:
        allowed = allowed & (qi - kj < window)
    group = h // kv
    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        a = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        if kind == "phi3":
            q, k, v = (a @ w[p + "self_attn.qkv_proj.weight"].T).split([h * hd, kv * hd, kv * hd], dim=-1)
        else:
            q, k, v = (a @ w[p + "self_attn.%s_proj.weight" % n].T + w.get(p + "self_attn.%s_proj.bias" % n, 0) for n in "qkv")
        q = q.reshape(b, t, h, hd).transpose(1, 2)
        k = k.reshape(b, t, kv, hd).transpose(1, 2)
        v = v.reshape(b, t, kv, hd).transpose(1, 2)
        if kind == "qwen3":
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k = rope(q, inv), rope(k, inv)
        heads = torch.arange(h) // group
        k, v = k[:, heads], v[:, heads]
        scores = (q @ k.transpose(-1, -2) / math.sqrt(hd)).masked_fill(~allowed, float("-inf"))
        y = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, t, h * hd)
        x = x + y @ w[p + "self_attn.o_proj.weight"].T
        a = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        if kind == "phi3":
            gate, up = (a @ w[p + "mlp.gate_up_proj.weight"].T).split([m, m], dim=-1)
        else:
            gate, up = a @ w[p + "mlp.gate_proj.weight"].T, a @ w[p + "mlp.up_proj.weight"].T
        x = x + (gate * torch.sigmoid(gate) * up) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return x @ head.T


def main(case, out, vocab=None):
    spec = dict(CASES[case])
    if vocab is not None:
        spec["vocab_size"] = vocab
    dtype = torch.bfloat16 if spec.pop("dtype", "fp32") == "bf16" else torch.float32
    shards = spec.pop("shards", 1)
    cfg = dict(BASE, **spec)
    gen = torch.Generator().manual_seed(sum(map(ord, case)))
    weights = {k: v.to(dtype) for k, v in random_weights(cfg, gen).items()}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2)
    if shards == 1:
        write_safetensors(os.path.join(out, "model.safetensors"), weights)
    else:
        names, weight_map = sorted(weights), {}
        for s in range(shards):
            file = "model-%05d-of-%05d.safetensors" % (s + 1, shards)
            part = {n: weights[n] for n in names[s::shards]}
            write_safetensors(os.path.join(out, file), part)
            weight_map.update({n: file for n in part})
        with open(os.path.join(out, "model.safetensors.index.json"), "w", encoding="utf-8") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)
    ids = torch.randint(0, cfg["vocab_size"], (BATCH, SEQ), generator=gen, dtype=torch.int64)
    write_safetensors(os.path.join(out, "inputs.safetensors"), {"input_ids": ids})
    read = {}
    for file in sorted(os.listdir(out)):
        if file.startswith("model") and file.endswith(".safetensors"):
            read.update(read_safetensors(os.path.join(out, file)))
    logits = forward(cfg, read, ids)
    write_safetensors(os.path.join(out, "reference_logits.safetensors"), {"logits": logits.to(torch.float32)})


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in CASES:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else None)
