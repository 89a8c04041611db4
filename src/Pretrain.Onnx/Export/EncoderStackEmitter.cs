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
