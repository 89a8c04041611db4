#!/usr/bin/env python3
"""Independent reference forward passes for BERT and ViT encoders, in plain PyTorch.

Written from the published architectures, reading Hugging Face tensor names and config.json keys:
BERT (Devlin et al. 2019): word + position + segment embeddings, LayerNorm; post-LN blocks
x = LN(x + Attn(x)), x = LN(x + FFN(x)) with the erf GELU; padding keys masked out of the softmax; pooler
tanh(W h[CLS]); MLM head LN(gelu(W h)) E^T + b with the decoder tied to the word embeddings.
"pretrain-bert-preln" is the pre-LN variant (x + Attn(LN(x)), x + FFN(LN(x)), final LN "encoder.ln").
ViT (Dosovitskiy et al. 2021): non-overlapping p x p patches flattened (channel, row, column) and projected,
class token, position table, pre-LN blocks, final LayerNorm, classifier on the class token.
It shares no code with Pretrain and does not use the transformers library. Computes in float64.

Usage: hf_encoder_reference.py CASE_DIR...
Each CASE_DIR holds config.json, model.safetensors and inputs.safetensors (BERT: input_ids, attention_mask,
token_type_ids, int64 [B, T]; ViT: pixel_values, float32 [B, C, H, W]); the script writes
CASE_DIR/reference_<name>.safetensors for hidden (last_hidden_state) and, where the weights have them,
logits (MLM or classifier) and pooled.
"""
import json
import math
import os
import sys

import torch

from hf_decoder_reference import Weights, layer_norm, linear, read_safetensors, write_f32_safetensors


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def attention(x, w, p, heads, names, key_bias):
    """Bidirectional multi-head attention; key_bias (B, 1, 1, T) is 0 for real keys and -inf for padding."""
    b, t, d = x.shape
    hd = d // heads
    split = lambda y: y.reshape(b, t, heads, hd).transpose(1, 2)  # (B, H, T, hd)
    q, k, v = (split(linear(x, w.get(p + n + ".weight"), w.get(p + n + ".bias", True))) for n in names[:3])
    scores = q @ k.transpose(-1, -2) / math.sqrt(hd)
    if key_bias is not None:
        scores = scores + key_bias
    y = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, t, d)
    return linear(y, w.get(p + names[3] + ".weight"), w.get(p + names[3] + ".bias"))


def bert(w, cfg, ids, mask, types):
    eps, heads = cfg.get("layer_norm_eps", 1e-12), cfg["num_attention_heads"]
    pre_ln = cfg["model_type"] == "pretrain-bert-preln"
    t = ids.shape[1]
    x = w.get("embeddings.word_embeddings.weight")[ids] + w.get("embeddings.position_embeddings.weight")[:t]
    if cfg.get("type_vocab_size", 2) > 0:
        x = x + w.get("embeddings.token_type_embeddings.weight")[types]
    x = layer_norm(x, w.get("embeddings.LayerNorm.weight"), w.get("embeddings.LayerNorm.bias"), eps)
    key_bias = torch.zeros(mask.shape, dtype=torch.float64).masked_fill(mask == 0, float("-inf"))[:, None, None, :]
    names = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense")
    for i in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        ln1 = lambda y: layer_norm(y, w.get(p + "attention.output.LayerNorm.weight"), w.get(p + "attention.output.LayerNorm.bias"), eps)
        ln2 = lambda y: layer_norm(y, w.get(p + "output.LayerNorm.weight"), w.get(p + "output.LayerNorm.bias"), eps)
        ffn = lambda y: linear(gelu_erf(linear(y, w.get(p + "intermediate.dense.weight"), w.get(p + "intermediate.dense.bias"))),
                               w.get(p + "output.dense.weight"), w.get(p + "output.dense.bias"))
        if pre_ln:
            x = x + attention(ln1(x), w, p, heads, names, key_bias)
            x = x + ffn(ln2(x))
        else:
            x = ln1(x + attention(x, w, p, heads, names, key_bias))
            x = ln2(x + ffn(x))
    if pre_ln:
        x = layer_norm(x, w.get("encoder.ln.weight"), w.get("encoder.ln.bias"), eps)
    out = {"hidden": x}
    if w.get("pooler.dense.weight", True) is not None:
        out["pooled"] = torch.tanh(linear(x[:, 0], w.get("pooler.dense.weight"), w.get("pooler.dense.bias")))
    if w.get("cls.predictions.bias", True) is not None:
        h = gelu_erf(linear(x, w.get("cls.predictions.transform.dense.weight"), w.get("cls.predictions.transform.dense.bias")))
        h = layer_norm(h, w.get("cls.predictions.transform.LayerNorm.weight"), w.get("cls.predictions.transform.LayerNorm.bias"), eps)
        out["logits"] = h @ w.get("embeddings.word_embeddings.weight").T + w.get("cls.predictions.bias")
    return out


def vit(w, cfg, pixels):
    eps, heads, p = cfg.get("layer_norm_eps", 1e-12), cfg["num_attention_heads"], cfg["patch_size"]
    b, c, hgt, wid = pixels.shape
    gh, gw = hgt // p, wid // p
    # Patch (i, j) holds pixels [i p, (i+1) p) x [j p, (j+1) p); flattened (channel, row, column) like a conv kernel.
    patches = pixels.reshape(b, c, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, c * p * p)
    kernel = w.get("embeddings.patch_embeddings.projection.weight")  # (d, C, p, p)
    x = patches @ kernel.reshape(kernel.shape[0], -1).T + w.get("embeddings.patch_embeddings.projection.bias")
    cls = w.get("embeddings.cls_token", True)
    if cls is not None:
        x = torch.cat([cls.expand(b, -1, -1), x], dim=1)
    x = x + w.get("embeddings.position_embeddings")
    names = ("attention.attention.query", "attention.attention.key", "attention.attention.value", "attention.output.dense")
    for i in range(cfg["num_hidden_layers"]):
        q = "encoder.layer.%d." % i
        a = layer_norm(x, w.get(q + "layernorm_before.weight"), w.get(q + "layernorm_before.bias"), eps)
        x = x + attention(a, w, q, heads, names, None)
        m = layer_norm(x, w.get(q + "layernorm_after.weight"), w.get(q + "layernorm_after.bias"), eps)
        m = gelu_erf(linear(m, w.get(q + "intermediate.dense.weight"), w.get(q + "intermediate.dense.bias")))
        x = x + linear(m, w.get(q + "output.dense.weight"), w.get(q + "output.dense.bias"))
    x = layer_norm(x, w.get("layernorm.weight"), w.get("layernorm.bias"), eps)
    out = {"hidden": x}
    if w.get("classifier.weight", True) is not None:
        out["logits"] = linear(x[:, 0], w.get("classifier.weight"), w.get("classifier.bias"))
    return out


def run_case(case_dir):
    with open(os.path.join(case_dir, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    tensors = read_safetensors(os.path.join(case_dir, "model.safetensors"))
    inputs = read_safetensors(os.path.join(case_dir, "inputs.safetensors"))
    kind = cfg["model_type"]
    if kind in ("bert", "pretrain-bert-preln"):
        out = bert(Weights(tensors, "bert."), cfg, inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])
    elif kind in ("vit", "pretrain-vit"):
        out = vit(Weights(tensors, "vit."), cfg, inputs["pixel_values"].to(torch.float64))
    else:
        raise SystemExit("unknown model_type %r in %s" % (kind, case_dir))
    for name, value in out.items():
        write_f32_safetensors(os.path.join(case_dir, "reference_%s.safetensors" % name), name, value)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    for case in sys.argv[1:]:
        run_case(case)
