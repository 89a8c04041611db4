#!/usr/bin/env bash
# Per-token generation latency on CPU: ONNX Runtime with the KV cache vs without, vs TorchSharp eager.
# Usage: tools/bench/onnx.sh [gpt2|llama] [new_tokens] [threads]   (results: tools/bench/README-onnx.md)
#    or: tools/bench/onnx.sh minilm [rounds] [threads] [dll]      (MiniLM original model.onnx vs our export; run tools/data/minilm.sh first)
#    or: tools/bench/onnx.sh minilm-optimize [runs] [threads] [dll]  (original vs our plain vs our --optimize export, batch 1 and 32)
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet run -c Release --project tools/bench/Pretrain.Bench.Onnx -- "$@"
