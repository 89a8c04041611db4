#!/usr/bin/env python3
"""The PyTorch eager baseline of the GPU `speed` phase (tools/gpu/check.sh): the GPT-2 shape our `pretrain run`
trains (learned positions, pre-LayerNorm blocks, separate q/k/v/o projections with biases, tanh-GELU MLP of 4x width,
final LayerNorm, head tied to the token embedding, no dropout), trained on random tokens with bf16 autocast,
F.scaled_dot_product_attention (causal), fused AdamW (lr 6e-4, betas 0.9/0.95, weight decay 0.1 on 2-D weights) and
gradient clipping at 1.0 — what a plain PyTorch user would write, no torch.compile.

Prints one JSON object (also to --out): tokens/s (median of timed windows), achieved TFLOP/s and MFU with the FLOP
count our metrics use (6*N + 12*L*C*T per token, N without the position table), and peak memory: the caching
allocator's max_memory_allocated / max_memory_reserved and the device memory in use seen by the driver (what our
side reports). Runs on CPU as a dry run (older PyTorch: plain attention where scaled_dot_product_attention is
missing, fused AdamW only where supported).
"""
import argparse
import inspect
import json
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# Dense bf16 tensor-core peaks (TFLOP/s) by card name, as src/Pretrain.Training/Precision/Throughput.cs.
PEAKS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.o_proj = nn.Linear(dim, dim)

    def forward(self, x):  # (B, T, C)
        b, t, c = x.shape
        q, k, v = (p(x).view(b, t, self.heads, c // self.heads).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, Dh)
        else:  # PyTorch < 2.0: the same attention written out
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            y = scores.masked_fill(~causal, float("-inf")).softmax(-1) @ v
        return self.o_proj(y.transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.up_proj = nn.Linear(dim, 4 * dim)
        self.down_proj = nn.Linear(4 * dim, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.down_proj(F.gelu(self.up_proj(self.norm2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, vocab, seq, dim, layers, heads):
        super().__init__()
        self.tok_embed = nn.Embedding(vocab, dim)
        self.pos_embed = nn.Embedding(seq, dim)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        for name, p in self.named_parameters():  # GPT-2's init: N(0, 0.02), residual projections scaled by depth
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = self.tok_embed(idx) + self.pos_embed(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = F.linear(self.norm(x), self.tok_embed.weight)  # tied head, (B, T, V)
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.view(-1))


def make_optimizer(model, device, lr):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}]
    fused = device.type == "cuda" and "fused" in inspect.signature(torch.optim.AdamW).parameters
    kwargs = {"fused": True} if fused else {}
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8, **kwargs), fused


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--vocab", type=int, default=50304)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=60, help="timed steps, after --warmup")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--window", type=int, default=10, help="steps per timed window (tokens/s is the median window)")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    device = torch.device(args.device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1337)
    model = Gpt(args.vocab, args.seq, args.dim, args.layers, args.heads).to(device)
    opt, fused = make_optimizer(model, device, 6e-4)
    data = torch.randint(0, args.vocab, (args.batch, args.seq + 1), device=device)
    x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()
    autocast = args.dtype == "bf16"

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def step():
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
            loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    losses = []
    for _ in range(args.warmup):
        losses.append(step().item())
    rates = []
    done = 0
    while done < args.steps:
        n = min(args.window, args.steps - done)
        sync()
        t0 = time.perf_counter()
        for _ in range(n):
            loss = step()
        losses.append(loss.item())  # one sync per window, as our trainer reads the loss once per step
        sync()
        rates.append(n * args.batch * args.seq / (time.perf_counter() - t0))
        done += n

    n_params = sum(p.numel() for p in model.parameters()) - model.pos_embed.weight.numel()
    flops_per_token = 6 * n_params + 12 * args.layers * args.dim * args.seq
    tokens_per_s = statistics.median(rates)
    tflops = flops_per_token * tokens_per_s / 1e12
    result = {
        "framework": f"pytorch {torch.__version__}",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": args.dtype,
        "attention": "scaled_dot_product_attention" if hasattr(F, "scaled_dot_product_attention") else "plain",
        "fused_adamw": fused,
        "parameters": sum(p.numel() for p in model.parameters()),
        "flops_per_token": flops_per_token,
        "tokens_per_s": tokens_per_s,
        "tokens_per_s_windows": rates,
        "tflops": tflops,
        "first_loss": losses[0],
        "last_loss": losses[-1],
    }
    if device.type == "cuda":
        peak = next((v for k, v in PEAKS.items() if k in result["device"]), 0.0)
        free, total = torch.cuda.mem_get_info(device)
        result.update({
            "mfu": tflops / peak if peak else None,
            "max_memory_allocated_bytes": torch.cuda.max_memory_allocated(device),
            "max_memory_reserved_bytes": torch.cuda.max_memory_reserved(device),
            "device_memory_used_bytes": total - free,
        })
    else:
        result["max_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    text = json.dumps(result)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
