#!/usr/bin/env python3
"""Independent reference for one DoRA linear layer (Liu et al. 2024, "DoRA: Weight-Decomposed Low-Rank Adaptation").

Written from the paper, eq. (5) and section 4.3: the adapted weight is W' = m * V / ||V||_c with V = W0 + s * B @ A,
where ||V||_c is the L2 norm of each output row of V ([out, in] layout, over the inputs) and is treated as a constant
in backward (detached). y = x @ W'^T + b. Shares no code with Pretrain and does not use the peft library.

Usage: dora_reference.py IN_SAFETENSORS OUT_SAFETENSORS
IN holds x [n, in], w [out, in], a [r, in], b_lora [out, r], m [out], gy [n, out] (the upstream gradient), scale [1]
and optionally bias [out]. OUT holds y, and the gradients grad_a, grad_b, grad_m of sum(y * gy).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_decoder_reference import read_safetensors  # noqa: E402  (format reader only)
from peft_merge_reference import write_safetensors  # noqa: E402  (format writer only)

import torch  # noqa: E402


def main(in_path, out_path):
    t = {k: v.to(torch.float64) for k, v in read_safetensors(in_path).items()}
    a = t["a"].clone().requires_grad_(True)
    b = t["b_lora"].clone().requires_grad_(True)
    m = t["m"].clone().requires_grad_(True)
    s = float(t["scale"][0])
    v = t["w"] + s * (b @ a)                          # [out, in]
    column_norm = torch.sqrt((v * v).sum(dim=1)).detach()  # [out], a constant for backward (section 4.3)
    w_adapted = (m / column_norm)[:, None] * v        # [out, in]
    y = t["x"] @ w_adapted.T
    if "bias" in t:
        y = y + t["bias"]
    (y * t["gy"]).sum().backward()
    write_safetensors(out_path, {"y": y.detach(), "grad_a": a.grad, "grad_b": b.grad, "grad_m": m.grad})


if __name__ == "__main__":
    main(*sys.argv[1:3])
