#!/usr/bin/env python3
"""Independent reference forward passes for GPT-2 and Llama causal LMs, in plain PyTorch.

Written from the published architectures (GPT-2: Radford et al. 2019, pre-LN blocks, tanh GELU, Conv1D weights
stored [in, out] with q|k|v fused in c_attn; Llama: Touvron et al. 2023, RMSNorm, SwiGLU, rotary embeddings in the
"rotate-half" pairing (x[j], x[j + d/2]), grouped-query attention), reading Hugging Face tensor names and
config.json keys. It shares no code with Pretrain and does not use the transformers library. Computes in float64.

Usage: hf_decoder_reference.py CASE_DIR...
Each CASE_DIR holds config.json, model.safetensors and inputs.safetensors (tensor "input_ids", int64 [B, T]);
the script writes CASE_DIR/reference_logits.safetensors (tensor "logits", float32 [B, T, V]).
"""
import json
import math
import os
import struct
import sys

import torch

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}


def read_safetensors(path):
    """8-byte little-endian header length, JSON header, then the raw little-endian row-major data section."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    base = 8 + n
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype = DTYPES[entry["dtype"]]
        if end > begin:
            flat = torch.frombuffer(bytearray(data[base + begin:base + end]), dtype=dtype)
        else:
            flat = torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(entry["shape"])
    return tensors


def write_f32_safetensors(path, name, tensor):
    values = tensor.to(torch.float32).contiguous().flatten().tolist()
    data = struct.pack("<%df" % len(values), *values)
    header = json.dumps({name: {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [0, len(data)]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data)


class Weights:
    """Tensor lookup by Hugging Face name, with or without the task-model prefix, as float64."""

    def __init__(self, tensors, prefix):
        self.tensors, self.prefix = tensors, prefix

    def get(self, name, optional=False):
        for key in (self.prefix + name, name):
            if key in self.tensors:
                return self.tensors[key].to(torch.float64)
        if optional:
            return None
        raise KeyError(name)


def causal_attention(q, k, v):
    """q (B, H, T, D), k/v (B, H, T, D) -> (B, H, T, D), softmax(q k^T / sqrt(D)) with future positions masked."""
    t, d = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    future = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    y = (x - mean) / torch.sqrt(var + eps) * weight
    return y if bias is None else y + bias


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def conv1d(x, w, b):
    """GPT-2's Conv1D: weight stored [in, out]."""
    y = x @ w
    return y if b is None else y + b


def gpt2_logits(w, cfg, ids):
    d, heads, eps = cfg["n_embd"], cfg["n_head"], cfg.get("layer_norm_epsilon", 1e-5)
    b, t = ids.shape
    wte = w.get("wte.weight")
    x = wte[ids] + w.get("wpe.weight")[torch.arange(t)]
    for i in range(cfg["n_layer"]):
        p = "h.%d." % i
        a = layer_norm(x, w.get(p + "ln_1.weight"), w.get(p + "ln_1.bias", True), eps)
        qkv = conv1d(a, w.get(p + "attn.c_attn.weight"), w.get(p + "attn.c_attn.bias", True))
        q, k, v = (s.reshape(b, t, heads, d // heads).transpose(1, 2) for s in qkv.split(d, dim=-1))
        y = causal_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        x = x + conv1d(y, w.get(p + "attn.c_proj.weight"), w.get(p + "attn.c_proj.bias", True))
        m = layer_norm(x, w.get(p + "ln_2.weight"), w.get(p + "ln_2.bias", True), eps)
        m = gelu_tanh(conv1d(m, w.get(p + "mlp.c_fc.weight"), w.get(p + "mlp.c_fc.bias", True)))
        x = x + conv1d(m, w.get(p + "mlp.c_proj.weight"), w.get(p + "mlp.c_proj.bias", True))
    x = layer_norm(x, w.get("ln_f.weight"), w.get("ln_f.bias", True), eps)
    head = wte if cfg.get("tie_word_embeddings", True) else w.get("lm_head.weight")
    return x @ head.T


def rms_norm(x, weight, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight


def rotate_pairs(x, theta):
    """Rotates each pair (x[j], x[j + D/2]) by angle pos * theta^(-2j/D). x (B, H, T, D)."""
    t, d = x.shape[-2], x.shape[-1]
    j = torch.arange(d // 2, dtype=torch.float64)
    angle = torch.arange(t, dtype=torch.float64)[:, None] * theta ** (-2.0 * j / d)[None, :]  # (T, D/2)
    cos, sin = torch.cos(angle), torch.sin(angle)
    lo, hi = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([lo * cos - hi * sin, hi * cos + lo * sin], dim=-1)


def linear(x, w, b):
    """nn.Linear: weight stored [out, in]."""
    y = x @ w.T
    return y if b is None else y + b


def llama_logits(w, cfg, ids):
    d, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    kv_heads = cfg.get("num_key_value_heads", heads)
    eps, theta = cfg.get("rms_norm_eps", 1e-6), cfg.get("rope_theta", 10000.0)
    hd = d // heads
    b, t = ids.shape
    embed = w.get("embed_tokens.weight")
    x = embed[ids]
    kv_of_head = torch.arange(heads) // (heads // kv_heads)  # query head h reads key/value head h // group
    for i in range(cfg["num_hidden_layers"]):
        p = "layers.%d." % i
        a = rms_norm(x, w.get(p + "input_layernorm.weight"), eps)
        proj = lambda n, h: linear(a, w.get(p + "self_attn.%s.weight" % n), w.get(p + "self_attn.%s.bias" % n, True)) \
            .reshape(b, t, h, hd).transpose(1, 2)
        q, k, v = proj("q_proj", heads), proj("k_proj", kv_heads), proj("v_proj", kv_heads)
        q, k = rotate_pairs(q, theta), rotate_pairs(k, theta)
        y = causal_attention(q, k[:, kv_of_head], v[:, kv_of_head]).transpose(1, 2).reshape(b, t, d)
        x = x + linear(y, w.get(p + "self_attn.o_proj.weight"), w.get(p + "self_attn.o_proj.bias", True))
        m = rms_norm(x, w.get(p + "post_attention_layernorm.weight"), eps)
        gate = linear(m, w.get(p + "mlp.gate_proj.weight"), w.get(p + "mlp.gate_proj.bias", True))
        up = linear(m, w.get(p + "mlp.up_proj.weight"), w.get(p + "mlp.up_proj.bias", True))
        x = x + linear(gate * torch.sigmoid(gate) * up, w.get(p + "mlp.down_proj.weight"), w.get(p + "mlp.down_proj.bias", True))
    x = rms_norm(x, w.get("norm.weight"), eps)
    head = embed if cfg.get("tie_word_embeddings", False) else w.get("lm_head.weight")
    return x @ head.T


def run_case(case_dir):
    with open(os.path.join(case_dir, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    tensors = read_safetensors(os.path.join(case_dir, "model.safetensors"))
    ids = read_safetensors(os.path.join(case_dir, "inputs.safetensors"))["input_ids"].to(torch.int64)
    kind = cfg["model_type"]
    if kind in ("gpt2", "pretrain-gpt2"):
        logits = gpt2_logits(Weights(tensors, "transformer."), cfg, ids)
    elif kind == "llama":
        logits = llama_logits(Weights(tensors, "model."), cfg, ids)
    else:
        raise SystemExit("unknown model_type %r in %s" % (kind, case_dir))
    write_f32_safetensors(os.path.join(case_dir, "reference_logits.safetensors"), "logits", logits)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    for case in sys.argv[1:]:
        run_case(case)
