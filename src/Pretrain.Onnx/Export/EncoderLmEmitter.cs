using Pretrain.Models.Text;
using Pretrain.Onnx.Graph;
using static Pretrain.Onnx.Proto.TensorProto.Types;

namespace Pretrain.Onnx.Export;

/// <summary>
/// Emits an <see cref="EncoderLm"/> (BERT post-LN or pre-LN) as an ONNX graph of standard opset-17 operators:
/// <c>input_ids</c>, <c>attention_mask</c> and (with segments) <c>token_type_ids</c>, int64 [batch, sequence] →
/// <c>last_hidden_state</c> float32 [batch, sequence, d] (and <c>pooler_output</c> [batch, d] with a pooler).
/// Padding keys get the additive mask (1 − mask)·float.MinValue, as the TorchSharp model does. Mirrors
/// <see cref="Models.Modules.EncoderBlock"/> op for op: LayerNormalization, softmax attention, erf GELU.
/// </summary>
internal sealed class EncoderLmEmitter
{
    private readonly EncoderLmConfig _c;
    private readonly OnnxGraphBuilder _g;
    private readonly OnnxWeights _w;

    private EncoderLmEmitter(EncoderLm model, int opset, OnnxDtype dtype)
    {
        _c = model.Config;
        _g = new OnnxGraphBuilder(opset, _c.PostNorm ? "bert_encoder" : "preln_encoder");
        _w = new OnnxWeights(_g, model.named_parameters(), dtype);
    }

    /// <summary>Builds the graph for <paramref name="model"/>.</summary>
    public static OnnxGraphBuilder Emit(EncoderLm model, int opset, OnnxDtype dtype)
    {
        var emitter = new EncoderLmEmitter(model, opset, dtype);
        emitter.Build();
        return emitter._g;
    }

    private void Build()
    {
        var ids = _g.Input("input_ids", DataType.Int64, "batch", "sequence");
        var mask = _g.Input("attention_mask", DataType.Int64, "batch", "sequence");
        var types = _c.TypeVocabSize > 0 ? _g.Input("token_type_ids", DataType.Int64, "batch", "sequence") : null;

        _g.Scope = "/embeddings";
        var t = _g.Op("Gather", [_g.Op("Shape", [ids]), _g.Int64([1], scalar: true)], ("axis", 0L));          // scalar T
        var positions = _g.Op("Range", [_g.Int64([0], scalar: true), t, _g.Int64([1], scalar: true)]);     // (T,)
        var x = _g.Op("Add", [_w.Gather("tok_embed.weight", ids), _w.Gather("pos_embed.weight", positions)]); // (B, T, C)
        if (types is not null)
            x = _g.Op("Add", [x, _w.Gather("type_embed.weight", types)]);
        x = Norm(x, "embed_norm");

        // Additive key-padding mask (B, 1, 1, T): 0 for real tokens, float.MinValue for padding.
        _g.Scope = "/mask";
        var keep = _g.Op("Cast", [_g.Op("Unsqueeze", [mask, _g.Int64([1, 2])])], ("to", (long)DataType.Float));
        var additive = _g.Op("Mul", [_g.Op("Sub", [_g.Float(1f), keep]), _g.Float(float.MinValue)]);

        for (var i = 0; i < _c.NumLayers; i++)
        {
            _g.Scope = $"/blocks.{i}";
            var p = $"blocks.{i}";
            if (_c.PostNorm)
            {
                x = Norm(_g.Op("Add", [x, Attention(x, p + ".attn", additive)]), p + ".norm1");
                x = Norm(_g.Op("Add", [x, Mlp(x, p + ".mlp")]), p + ".norm2");
            }
            else
            {
                x = _g.Op("Add", [x, Attention(Norm(x, p + ".norm1"), p + ".attn", additive)]);
                x = _g.Op("Add", [x, Mlp(Norm(x, p + ".norm2"), p + ".mlp")]);
            }
        }
        _g.Scope = "/head";
        var hidden = _c.PostNorm ? x : Norm(x, "norm");
        _g.OpNamed("Identity", [hidden], ["last_hidden_state"]);
        _g.Output("last_hidden_state", DataType.Float, "batch", "sequence", _c.EmbedDim);
        if (_c.Pooler)
        {
            var first = _g.Op("Gather", ["last_hidden_state", _g.Int64([0], scalar: true)], ("axis", 1L)); // (B, C)
            _g.OpNamed("Tanh", [_w.Linear(first, "pooler")], ["pooler_output"]);
            _g.Output("pooler_output", DataType.Float, "batch", _c.EmbedDim);
        }
    }

    private string Norm(string x, string prefix) =>
        _g.Op("LayerNormalization", [x, _w.Fp32(prefix + ".weight"), _w.Fp32(prefix + ".bias")], ("axis", -1L), ("epsilon", (float)_c.NormEps));

    private string Attention(string x, string prefix, string additive)
    {
        int h = _c.NumHeads, dh = _c.EmbedDim / _c.NumHeads;
        // Value first: the importer must tell q, k and v apart by their role, not by their order.
        var v = Heads(_w.Linear(x, prefix + ".v_proj"), h, dh);                                            // (B, H, T, Dh)
        var q = Heads(_w.Linear(x, prefix + ".q_proj"), h, dh);
        var k = Heads(_w.Linear(x, prefix + ".k_proj"), h, dh);
        var kt = _g.Op("Transpose", [k], ("perm", new long[] { 0, 1, 3, 2 }));                             // (B, H, Dh, T)
        var scores = _g.Op("Mul", [_g.Op("MatMul", [q, kt]), _g.Float((float)(1.0 / Math.Sqrt(dh)))]);    // (B, H, T, T)
        var probs = _g.Op("Softmax", [_g.Op("Add", [scores, additive])], ("axis", -1L));
        var y = _g.Op("Transpose", [_g.Op("MatMul", [probs, v])], ("perm", new long[] { 0, 2, 1, 3 }));  // (B, T, H, Dh)
        return _w.Linear(_g.Op("Reshape", [y, _g.Int64([0, 0, h * dh])]), prefix + ".o_proj");           // (B, T, C)
    }

    /// <summary>(B, T, H·Dh) → (B, H, T, Dh).</summary>
    private string Heads(string x, int h, int dh) =>
        _g.Op("Transpose", [_g.Op("Reshape", [x, _g.Int64([0, 0, h, dh])])], ("perm", new long[] { 0, 2, 1, 3 }));

    /// <summary>down(gelu(up(x))) with the erf GELU: 0.5·u·(1 + erf(u/√2)).</summary>
    private string Mlp(string x, string prefix)
    {
        var u = _w.Linear(x, prefix + ".up_proj");
        var erf = _g.Op("Erf", [_g.Op("Div", [u, _g.Float((float)Math.Sqrt(2))])]);
        var a = _g.Op("Mul", [_g.Op("Mul", [u, _g.Op("Add", [erf, _g.Float(1f)])]), _g.Float(0.5f)]);
        return _w.Linear(a, prefix + ".down_proj");
    }
}
