using Pretrain.Onnx.Graph;

namespace Pretrain.Onnx.Export;

/// <summary>
/// Emits <see cref="Models.Modules.EncoderBlock"/>s (post-LN BERT or pre-LN BERT/ViT) op for op:
/// LayerNormalization, softmax attention with an optional additive key mask, erf GELU. Shared by
/// <see cref="EncoderLmEmitter"/> and <see cref="VitEmitter"/>; parameters are read under <c>blocks.{i}.*</c>.
/// </summary>
internal sealed class EncoderStackEmitter(OnnxGraphBuilder g, OnnxWeights w, int dim, int heads, double eps)
{
    /// <summary>Runs blocks 0..<paramref name="layers"/>−1 on <paramref name="x"/> (B, T, C).</summary>
    public string Blocks(string x, int layers, bool postNorm, string? additiveMask)
    {
        for (var i = 0; i < layers; i++)
        {
            g.Scope = $"/blocks.{i}";
            var p = $"blocks.{i}";
            if (postNorm)
            {
                x = Norm(g.Op("Add", [x, Attention(x, p + ".attn", additiveMask)]), p + ".norm1");
                x = Norm(g.Op("Add", [x, Mlp(x, p + ".mlp")]), p + ".norm2");
            }
            else
            {
                x = g.Op("Add", [x, Attention(Norm(x, p + ".norm1"), p + ".attn", additiveMask)]);
                x = g.Op("Add", [x, Mlp(Norm(x, p + ".norm2"), p + ".mlp")]);
            }
        }
        return x;
    }

    /// <summary>
    /// <c>--optimize</c>: the same blocks with ONNX Runtime's fused operators, placed where the module structure says
    /// they apply. Attention: com.microsoft <c>Attention</c> with q, k, v packed into one (C, 3C) weight and bias, the
    /// key padding mask as its raw (B, T) int32 <paramref name="maskIndex"/>. Residual + LayerNorm:
    /// <c>SkipLayerNormalization</c> (the o_proj / down_proj bias folded in): post-LN after each sub-layer; pre-LN for
    /// norm2 and for the next block's norm1 (or <paramref name="finalNorm"/> after the last block), its fourth
    /// output giving the residual sum the chain continues from. GELU: <c>BiasGelu</c> (erf, exact) with up_proj's bias.
    /// Returns the hidden states, pre-LN ones already through <paramref name="finalNorm"/>.
    /// </summary>
    public string FusedBlocks(string x, int layers, bool postNorm, string? maskIndex, string? finalNorm)
    {
        if (!postNorm && finalNorm is null)
            throw new ArgumentException("Pre-LN blocks end in the final norm, which the last SkipLayerNormalization applies.");
        if (postNorm)
        {
            for (var i = 0; i < layers; i++)
            {
                g.Scope = $"/blocks.{i}";
                var p = $"blocks.{i}";
                x = SkipNorm(FusedAttention(x, p + ".attn", maskIndex), x, p + ".attn.o_proj", p + ".norm1").Normed;
                x = SkipNorm(FusedMlp(x, p + ".mlp"), x, p + ".mlp.down_proj", p + ".norm2").Normed;
            }
            return x;
        }
        g.Scope = "/blocks.0";
        var normed = Norm(x, "blocks.0.norm1");
        for (var i = 0; i < layers; i++)
        {
            g.Scope = $"/blocks.{i}";
            var p = $"blocks.{i}";
            (normed, x) = SkipNorm(FusedAttention(normed, p + ".attn", maskIndex), x, p + ".attn.o_proj", p + ".norm2");
            var next = i + 1 < layers ? $"blocks.{i + 1}.norm1" : finalNorm!;
            (normed, x) = SkipNorm(FusedMlp(normed, p + ".mlp"), x, p + ".mlp.down_proj", next, wantSum: i + 1 < layers);
        }
        return normed;
    }

    /// <summary>
    /// LayerNorm(input + skip + bias of <paramref name="linear"/>) as one SkipLayerNormalization; also returns the sum
    /// (its optional fourth output) when <paramref name="wantSum"/>.
    /// </summary>
    private (string Normed, string Sum) SkipNorm(string input, string skip, string linear, string norm, bool wantSum = true)
    {
        string[] inputs = w.Bias(linear) is { } bias
            ? [input, skip, w.Fp32(norm + ".weight"), w.Fp32(norm + ".bias"), bias]
            : [input, skip, w.Fp32(norm + ".weight"), w.Fp32(norm + ".bias")];
        var normed = g.Fresh("SkipLayerNormalization");
        var sum = wantSum ? g.Fresh("ResidualSum") : "";
        g.MsOp("SkipLayerNormalization", inputs, wantSum ? [normed, "", "", sum] : [normed], ("epsilon", (float)eps));
        return (normed, sum);
    }

    /// <summary>com.microsoft Attention (packed QKV) → o_proj's MatMul; o_proj's bias is left to the SkipLayerNormalization.</summary>
    private string FusedAttention(string x, string prefix, string? maskIndex)
    {
        string[] qkv = [prefix + ".q_proj", prefix + ".k_proj", prefix + ".v_proj"];
        var weight = w.PackedWeight(prefix + ".qkv_proj.weight.packed", qkv);
        var bias = w.PackedBias(prefix + ".qkv_proj.bias.packed", qkv)
            ?? throw new InvalidOperationException($"{prefix}: com.microsoft Attention needs the q, k and v biases.");
        string[] inputs = maskIndex is null ? [x, weight, bias] : [x, weight, bias, maskIndex];
        var y = g.MsOp("Attention", inputs, [g.Fresh("Attention")], ("num_heads", (long)heads))[0];   // (B, T, C)
        return w.MatMul(y, prefix + ".o_proj");
    }

    /// <summary>BiasGelu(up_proj's MatMul, up_proj's bias) → down_proj's MatMul (bias left to the SkipLayerNormalization).</summary>
    private string FusedMlp(string x, string prefix)
    {
        var up = w.MatMul(x, prefix + ".up_proj");
        var a = w.Bias(prefix + ".up_proj") is { } bias
            ? g.MsOp("BiasGelu", [up, bias], [g.Fresh("BiasGelu")])[0]
            : g.MsOp("Gelu", [up], [g.Fresh("Gelu")])[0];
        return w.MatMul(a, prefix + ".down_proj");
    }

    /// <summary>LayerNormalization over the last axis with the weights under <paramref name="prefix"/>.</summary>
    public string Norm(string x, string prefix) =>
        g.Op("LayerNormalization", [x, w.Fp32(prefix + ".weight"), w.Fp32(prefix + ".bias")], ("axis", -1L), ("epsilon", (float)eps));

    private string Attention(string x, string prefix, string? additive)
    {
        int dh = dim / heads;
        // Value first: the importer must tell q, k and v apart by their role, not by their order.
        var v = Heads(w.Linear(x, prefix + ".v_proj"), dh);                                              // (B, H, T, Dh)
        var q = Heads(w.Linear(x, prefix + ".q_proj"), dh);
        var k = Heads(w.Linear(x, prefix + ".k_proj"), dh);
        var kt = g.Op("Transpose", [k], ("perm", new long[] { 0, 1, 3, 2 }));                             // (B, H, Dh, T)
        var scores = g.Op("Mul", [g.Op("MatMul", [q, kt]), g.Float((float)(1.0 / Math.Sqrt(dh)))]);      // (B, H, T, T)
        if (additive is not null)
            scores = g.Op("Add", [scores, additive]);
        var probs = g.Op("Softmax", [scores], ("axis", -1L));
        var y = g.Op("Transpose", [g.Op("MatMul", [probs, v])], ("perm", new long[] { 0, 2, 1, 3 }));    // (B, T, H, Dh)
        return w.Linear(g.Op("Reshape", [y, g.Int64([0, 0, dim])]), prefix + ".o_proj");                 // (B, T, C)
    }

    /// <summary>(B, T, H·Dh) → (B, H, T, Dh).</summary>
    private string Heads(string x, int dh) =>
        g.Op("Transpose", [g.Op("Reshape", [x, g.Int64([0, 0, heads, dh])])], ("perm", new long[] { 0, 2, 1, 3 }));

    /// <summary>down(gelu(up(x))) with the erf GELU: 0.5·u·(1 + erf(u/√2)).</summary>
    private string Mlp(string x, string prefix)
    {
        var u = w.Linear(x, prefix + ".up_proj");
        var erf = g.Op("Erf", [g.Op("Div", [u, g.Float((float)Math.Sqrt(2))])]);
        var a = g.Op("Mul", [g.Op("Mul", [u, g.Op("Add", [erf, g.Float(1f)])]), g.Float(0.5f)]);
        return w.Linear(a, prefix + ".down_proj");
    }
}
