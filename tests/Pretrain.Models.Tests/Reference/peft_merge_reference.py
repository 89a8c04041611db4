#!/usr/bin/env python3
"""Independent reference for merging a PEFT LoRA adapter into Hugging Face base weights, in plain PyTorch.

Written from PEFT's documented adapter layout: adapter_model.safetensors holds base_model.model.<module>.lora_A.weight
[r, in] and .lora_B.weight [out, r]; the update of <module>.weight is scale * B @ A with scale = lora_alpha / r
(lora_alpha / sqrt(r) when use_rslora), where rank_pattern / alpha_pattern override r / lora_alpha for the modules
whose path ends in a pattern key; with fan_in_fan_out (GPT-2 Conv1D, weights stored [in, out]) the update is
transposed. With use_dora (DoRA, Liu et al. 2024, eq. 5) the merged weight is m * V / ||V||_c with V = W + delta as
[out, in], ||V||_c the L2 norm of each output row and m the adapter's <module>.lora_magnitude_vector [out].
Shares no code with Pretrain and does not use the peft library. Computes in float64.

Usage: peft_merge_reference.py ADAPTER_DIR BASE_SAFETENSORS OUT_SAFETENSORS
Writes the merged weight of every adapted module (float32, Hugging Face names) to OUT_SAFETENSORS.
"""
import json
import math
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_decoder_reference import read_safetensors  # noqa: E402  (format reader only)

import torch  # noqa: E402

PREFIX = "base_model.model."


def pattern(patterns, module):
    for key, value in (patterns or {}).items():
        if module == key or module.endswith("." + key):
            return value
    return None


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        values = tensors[name].to(torch.float32).contiguous().flatten().tolist()
        data = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(chunks))


def main(adapter_dir, base_path, out_path):
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        cfg = json.load(f)
    adapter = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
    base = read_safetensors(base_path)
    merged = {}
    for name, a in adapter.items():
        if not name.endswith(".lora_A.weight"):
            continue
        module = name[len(PREFIX):-len(".lora_A.weight")]
        b = adapter[PREFIX + module + ".lora_B.weight"].to(torch.float64)
        a = a.to(torch.float64)
        r = pattern(cfg.get("rank_pattern"), module) or cfg["r"]
        alpha = pattern(cfg.get("alpha_pattern"), module) or cfg["lora_alpha"]
        assert a.shape[0] == r, f"{module}: A has rank {a.shape[0]}, the config says {r}"
        scale = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
        w = base[module + ".weight"].to(torch.float64)
        if cfg.get("fan_in_fan_out"):
            w = w.T  # Conv1D stores [in, out]
        v = w + scale * (b @ a)  # [out, in]
        if cfg.get("use_dora"):
            m = adapter[PREFIX + module + ".lora_magnitude_vector"].to(torch.float64)
            assert m.shape == (v.shape[0],), f"{module}: magnitude {tuple(m.shape)} for {v.shape[0]} output rows"
            v = (m / torch.sqrt((v * v).sum(dim=1)))[:, None] * v
        merged[module + ".weight"] = v.T if cfg.get("fan_in_fan_out") else v
    write_safetensors(out_path, merged)


if __name__ == "__main__":
    main(*sys.argv[1:4])
