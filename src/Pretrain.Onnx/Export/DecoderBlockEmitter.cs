using Pretrain.Models.Text;
using Pretrain.Onnx.Graph;

namespace Pretrain.Onnx.Export;

/// <summary>
/// Emits one pre-norm decoder block, x + attn(norm1(x)) then x + mlp(norm2(x)), from primitive operators:
/// LayerNormalization or RMSNorm (Pow/ReduceMean/Add/Sqrt/Div/Mul), softmax attention with RoPE and grouped-query
/// heads, and a tanh-GELU or SwiGLU MLP. Mirrors Pretrain.Models.Modules op for op.
/// </summary>
internal sealed class DecoderBlockEmitter(OnnxGraphBuilder g, OnnxWeights w, DecoderLmConfig c, string allowed, (string Cos, string Sin)? rope,
    string? attentionBias = null)
{
    /// <summary>
    /// Whether <c>--optimize</c> fuses this arch's attention into com.microsoft <c>MultiHeadAttention</c>: gpt2 (no
    /// RoPE, no q/k norm, as many key/value heads as query heads), whose past_key/past_value/present_key/present_value
    /// have exactly our cache layout (B, H, P, Dh). Llama-family attention stays unfused (see docs).
    /// </summary>
    public static bool FusesAttention(DecoderLmConfig c) => !c.IsLlama && !c.QkNorm && c.KvHeads == c.NumHeads;

    /// <summary>
    /// <c>--optimize</c>: block <paramref name="layer"/> on the residual stream <paramref name="x"/> whose norm1 is
    /// already applied (<paramref name="normed"/>). Each residual add + the following norm (this block's norm2, then the
    /// next block's norm1 or, after the last block, the final <c>norm</c>) is one com.microsoft
    /// SkipLayerNormalization (gpt2) or SkipSimplifiedLayerNormalization (llama RMSNorm), whose fourth output is the
    /// residual sum; gpt2's attention is MultiHeadAttention with the cache, its GELU FastGelu (tanh, GPT-2's own).
    /// Returns the next norm's output and the residual sum (empty after the last block).
    /// </summary>
    public (string Normed, string Sum) EmitFused(string normed, string x, int layer, bool withPast)
    {
        var p = $"blocks.{layer}";
        var last = layer + 1 == c.NumLayers;
        var next = last ? "norm" : $"blocks.{layer + 1}.norm1";
        (normed, x) = FusesAttention(c)
            ? SkipNorm(FusedAttention(normed, p + ".attn", layer, withPast), x, w.Bias(p + ".attn.o_proj"), p + ".norm2", true)
            : SkipNorm(Attention(normed, p + ".attn", layer, withPast), x, null, p + ".norm2", true);
        return c.IsLlama
            ? SkipNorm(SwiGlu(normed, p + ".mlp"), x, null, next, !last)
            : SkipNorm(FastGelu(normed, p + ".mlp"), x, w.Bias(p + ".mlp.down_proj"), next, !last);
    }

    /// <summary>norm(input + skip + bias) as one fused node; the sum is its optional fourth output.</summary>
    private (string Normed, string Sum) SkipNorm(string input, string skip, string? bias, string norm, bool wantSum)
    {
        var normed = g.Fresh("SkipNorm");
        var sum = wantSum ? g.Fresh("ResidualSum") : "";
        string[] outputs = wantSum ? [normed, "", "", sum] : [normed];
        if (c.IsLlama)
        {
            string[] inputs = bias is null ? [input, skip, w.Fp32(norm + ".weight")] : [input, skip, w.Fp32(norm + ".weight"), bias];
            g.MsOp("SkipSimplifiedLayerNormalization", inputs, outputs, ("epsilon", (float)c.NormEps));
        }
        else
        {
            var beta = w.Has(norm + ".bias") ? w.Fp32(norm + ".bias") : "";
            string[] inputs = bias is null ? [input, skip, w.Fp32(norm + ".weight"), beta] : [input, skip, w.Fp32(norm + ".weight"), beta, bias];
            g.MsOp("SkipLayerNormalization", inputs, outputs, ("epsilon", (float)c.NormEps));
        }
        return (normed, sum);
    }

    /// <summary>
    /// q, k, v as one packed MatMul split in three, then MultiHeadAttention (q/k/v biases as its bias input, the
    /// causal/padding/window mask as its additive attention_bias (B, 1, T, S), the cache as past_key/past_value →
    /// present.{layer}.key|value), then o_proj's MatMul (its bias goes to the SkipLayerNormalization).
    /// </summary>
    private string FusedAttention(string x, string prefix, int layer, bool withPast)
    {
        string[] qkv = [prefix + ".q_proj", prefix + ".k_proj", prefix + ".v_proj"];
        var packed = g.Op("MatMul", [x, w.PackedWeight(prefix + ".qkv_proj.weight.packed", qkv)]);        // (B, T, 3C)
        var parts = g.Split(packed, 3);
        var bias = w.PackedBias(prefix + ".qkv_proj.bias.packed", qkv) ?? "";
        string[] inputs = withPast
            ? [parts[0], parts[1], parts[2], bias, "", attentionBias!, $"past_key_values.{layer}.key", $"past_key_values.{layer}.value"]
            : [parts[0], parts[1], parts[2], bias, "", attentionBias!];
        string[] outputs = withPast ? [g.Fresh("MultiHeadAttention"), $"present.{layer}.key", $"present.{layer}.value"] : [g.Fresh("MultiHeadAttention")];
        var y = g.MsOp("MultiHeadAttention", inputs, outputs, ("num_heads", (long)c.NumHeads))[0];          // (B, T, C)
        return w.MatMul(y, prefix + ".o_proj");
    }

    /// <summary>GPT-2 MLP: FastGelu(up_proj's MatMul, its bias) — the tanh GELU — then down_proj's MatMul.</summary>
    private string FastGelu(string x, string prefix)
    {
        var up = w.MatMul(x, prefix + ".up_proj");
        string[] inputs = w.Bias(prefix + ".up_proj") is { } b ? [up, b] : [up];
        return w.MatMul(g.MsOp("FastGelu", inputs, [g.Fresh("FastGelu")])[0], prefix + ".down_proj");
    }

    /// <summary>Block <paramref name="layer"/> applied to x (B, T, C); with past it writes present.{layer}.key|value.</summary>
    public string Emit(string x, int layer, bool withPast)
    {
        var p = $"blocks.{layer}";
        x = g.Op("Add", [x, Attention(Norm(x, p + ".norm1"), p + ".attn", layer, withPast)]);
        return g.Op("Add", [x, c.IsLlama ? SwiGlu(Norm(x, p + ".norm2"), p + ".mlp") : Gelu(Norm(x, p + ".norm2"), p + ".mlp")]);
    }

    /// <summary>The arch's norm with parameters under <paramref name="prefix"/>.</summary>
    public string Norm(string x, string prefix)
    {
        if (!c.IsLlama)
        {
            string[] inputs = w.Has(prefix + ".bias")
                ? [x, w.Fp32(prefix + ".weight"), w.Fp32(prefix + ".bias")]
                : [x, w.Fp32(prefix + ".weight")];
            return g.Op("LayerNormalization", inputs, ("axis", -1L), ("epsilon", (float)c.NormEps));
        }
        // RMSNorm: x / sqrt(mean(x²) + eps) · weight
        var variance = g.ReduceMean(g.Op("Pow", [x, g.Float(2f)]), [-1]);                                // (B, T, 1)
        var normed = g.Op("Div", [x, g.Op("Sqrt", [g.Op("Add", [variance, g.Float((float)c.NormEps)])])]);
        return g.Op("Mul", [normed, w.Fp32(prefix + ".weight")]);
    }

    private string Attention(string x, string prefix, int layer, bool withPast)
    {
        int h = c.NumHeads, kvh = c.KvHeads, dh = c.HeadDim;
        var q = Heads(w.Linear(x, prefix + ".q_proj"), h);                                                // (B, H, T, Dh)
        var k = Heads(w.Linear(x, prefix + ".k_proj"), kvh);                                              // (B, Hkv, T, Dh)
        var v = Heads(w.Linear(x, prefix + ".v_proj"), kvh);
        if (c.QkNorm)
        {
            // Qwen3: RMSNorm over each head's Dh features, before RoPE.
            q = Norm(q, prefix + ".q_norm");
            k = Norm(k, prefix + ".k_norm");
        }
        if (rope is { } r)
        {
            q = Rotate(q, r.Cos, r.Sin);
            k = Rotate(k, r.Cos, r.Sin);
        }
        if (withPast)
        {
            // The cache holds rotated keys, as Hugging Face's does. (B, Hkv, P + T, Dh)
            k = g.OpNamed("Concat", [$"past_key_values.{layer}.key", k], [$"present.{layer}.key"], ("axis", 2L))[0];
            v = g.OpNamed("Concat", [$"past_key_values.{layer}.value", v], [$"present.{layer}.value"], ("axis", 2L))[0];
        }
        if (kvh != h)
        {
            // Query head j reads key/value head j / (H / Hkv) (repeat_interleave): (B, Hkv, 1, S, Dh) -> (B, H, S, Dh)
            var times = g.Int64([1, 1, h / kvh, 1, 1]);
            var target = g.Int64([0, h, -1, dh]);
            k = g.Op("Reshape", [g.Op("Expand", [g.Op("Unsqueeze", [k, g.Int64([2])]), times]), target]);
            v = g.Op("Reshape", [g.Op("Expand", [g.Op("Unsqueeze", [v, g.Int64([2])]), times]), target]);
        }
        var kt = g.Op("Transpose", [k], ("perm", new long[] { 0, 1, 3, 2 }));                             // (B, H, Dh, S)
        var scores = g.Op("Mul", [g.Op("MatMul", [q, kt]), g.Float((float)(1.0 / Math.Sqrt(dh)))]);       // (B, H, T, S)
        scores = g.Op("Where", [allowed, scores, g.Float(float.MinValue)]);
        var probs = g.Op("Softmax", [scores], ("axis", -1L));
        var y = g.Op("MatMul", [probs, v]);                                                               // (B, H, T, Dh)
        y = g.Op("Transpose", [y], ("perm", new long[] { 0, 2, 1, 3 }));                                  // (B, T, H, Dh)
        y = g.Op("Reshape", [y, g.Int64([0, 0, h * dh])]);                                                // (B, T, C)
        return w.Linear(y, prefix + ".o_proj");
    }

    /// <summary>(B, T, n·Dh) -> (B, n, T, Dh).</summary>
    private string Heads(string x, int n) =>
        g.Op("Transpose", [g.Op("Reshape", [x, g.Int64([0, 0, n, c.HeadDim])])], ("perm", new long[] { 0, 2, 1, 3 }));

    /// <summary>RoPE, rotate-half form: x·cos + [−x₂, x₁]·sin.</summary>
    private string Rotate(string x, string cos, string sin)
    {
        var (x1, x2) = g.SplitHalves(x);
        var rotated = g.Op("Concat", [g.Op("Neg", [x2]), x1], ("axis", -1L));
        return g.Op("Add", [g.Op("Mul", [x, cos]), g.Op("Mul", [rotated, sin])]);
    }

    /// <summary>GPT-2 MLP with tanh GELU: 0.5·u·(1 + tanh(√(2/π)·(u + 0.044715·u³))) (Gelu is an opset-20 op).</summary>
    private string Gelu(string x, string prefix)
    {
        var u = w.Linear(x, prefix + ".up_proj");
        var cube = g.Op("Mul", [u, g.Op("Mul", [u, u])]);
        var inner = g.Op("Mul", [g.Op("Add", [u, g.Op("Mul", [cube, g.Float(0.044715f)])]), g.Float((float)Math.Sqrt(2 / Math.PI))]);
        var gate = g.Op("Add", [g.Op("Tanh", [inner]), g.Float(1f)]);
        var a = g.Op("Mul", [g.Op("Mul", [u, gate]), g.Float(0.5f)]);
        return w.Linear(a, prefix + ".down_proj");
    }

    /// <summary>Llama MLP: down(silu(gate(x)) · up(x)), silu(z) = z·sigmoid(z).</summary>
    private string SwiGlu(string x, string prefix)
    {
        var gate = w.Linear(x, prefix + ".gate_proj");
        var silu = g.Op("Mul", [gate, g.Op("Sigmoid", [gate])]);
        return w.Linear(g.Op("Mul", [silu, w.Linear(x, prefix + ".up_proj")]), prefix + ".down_proj");
    }
}
