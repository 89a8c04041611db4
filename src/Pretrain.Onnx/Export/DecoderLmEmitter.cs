using Pretrain.Models.Modules;
using Pretrain.Models.Text;
using Pretrain.Onnx.Graph;
using TorchSharp;
using static Pretrain.Onnx.Proto.TensorProto.Types;
using static TorchSharp.torch;

namespace Pretrain.Onnx.Export;

/// <summary>
/// Emits a <see cref="DecoderLm"/> (gpt2 or llama) as an ONNX graph of standard opset-17 operators:
/// <c>input_ids</c> int64 [batch, sequence] and <c>attention_mask</c> int64 [batch, sequence] (with past:
/// [batch, past_sequence + sequence], covering the cached keys too) → <c>logits</c> float32 [batch, sequence, vocab].
/// With past, <c>past_key_values.{i}.key|value</c> float32 [batch, kv_heads, past_sequence, head_dim] come in and
/// <c>present.{i}.key|value</c> go out (Optimum's names); positions start at past_sequence.
/// The attention mask hides keys (1 = attend, 0 = padding); positions are not shifted by it, so batches are padded
/// on the right, as the TorchSharp model assumes.
/// </summary>
internal sealed class DecoderLmEmitter
{
    private readonly DecoderLmConfig _c;
    private readonly bool _withPast;
    private readonly bool _fused;
    private readonly OnnxGraphBuilder _g;
    private readonly OnnxWeights _w;

    private DecoderLmEmitter(DecoderLm model, int opset, OnnxDtype dtype, bool withPast, bool fused)
    {
        _fused = fused;
        _c = model.Config;
        _withPast = withPast;
        _g = new OnnxGraphBuilder(opset, _c.IsLlama ? "llama_decoder" : "gpt2_decoder");
        _w = new OnnxWeights(_g, model.named_parameters(), dtype);
    }

    /// <summary>
    /// Builds the graph for <paramref name="model"/>; <paramref name="fused"/> (<c>--optimize</c>) emits the blocks
    /// with ONNX Runtime's fused operators (<see cref="DecoderBlockEmitter.EmitFused"/>), same inputs and outputs.
    /// </summary>
    public static OnnxGraphBuilder Emit(DecoderLm model, int opset, OnnxDtype dtype, bool withPast, bool fused = false)
    {
        var emitter = new DecoderLmEmitter(model, opset, dtype, withPast, fused);
        emitter.Build();
        return emitter._g;
    }

    private void Build()
    {
        var total = _withPast ? "past_sequence + sequence" : "sequence";
        var ids = _g.Input("input_ids", DataType.Int64, "batch", "sequence");
        var mask = _g.Input("attention_mask", DataType.Int64, "batch", total);
        for (var i = 0; _withPast && i < _c.NumLayers; i++)
        {
            _g.Input($"past_key_values.{i}.key", DataType.Float, "batch", _c.KvHeads, "past_sequence", _c.HeadDim);
            _g.Input($"past_key_values.{i}.value", DataType.Float, "batch", _c.KvHeads, "past_sequence", _c.HeadDim);
        }

        // Positions: past_length .. past_length + T - 1 for the queries, 0 .. past_length + T - 1 for the keys.
        _g.Scope = "/positions";
        var t = _g.Op("Gather", [_g.Op("Shape", [ids]), _g.Int64([1], scalar: true)], ("axis", 0L));   // scalar T
        var past = _withPast
            ? _g.Op("Gather", [_g.Op("Shape", ["past_key_values.0.key"]), _g.Int64([2], scalar: true)], ("axis", 0L))
            : _g.Int64([0], scalar: true);                                                                 // scalar P
        var end = _g.Op("Add", [past, t]);
        var one = _g.Int64([1], scalar: true);
        var positions = _g.Op("Range", [past, end, one]);                                                  // (T,)
        var keyPositions = _g.Op("Range", [_g.Int64([0], scalar: true), end, one]);                        // (S,)

        // Allowed (query, key) pairs: key position ≤ query position, and the key is not padding. (B, 1, T, S) bool
        _g.Scope = "/mask";
        var causal = _g.Op("LessOrEqual", [
            _g.Op("Unsqueeze", [keyPositions, _g.Int64([0])]),        // (1, S)
            _g.Op("Unsqueeze", [positions, _g.Int64([1])])]);         // (T, 1) -> (T, S)
        var keep = _g.Op("Unsqueeze", [_g.Op("Cast", [mask], ("to", (long)DataType.Bool)), _g.Int64([1, 2])]); // (B, 1, 1, S)
        var allowed = _g.Op("And", [causal, keep]);
        if (_c.SlidingWindow is int window)
        {
            // Sliding window on absolute positions, so the cached path masks as the full forward: key > query − W.
            var inWindow = _g.Op("Greater", [
                _g.Op("Unsqueeze", [keyPositions, _g.Int64([0])]),
                _g.Op("Unsqueeze", [_g.Op("Sub", [positions, _g.Int64([window], scalar: true)]), _g.Int64([1])])]); // (T, S)
            allowed = _g.Op("And", [allowed, inWindow]);
        }

        var x = _w.Gather("tok_embed.weight", ids);                                                       // (B, T, C)
        (string Cos, string Sin)? rope = null;
        if (_c.IsLlama)
            rope = RopeTables(positions);
        else
            x = _g.Op("Add", [x, _w.Gather("pos_embed.weight", positions)]);                              // + (T, C)

        string? attentionBias = null;
        if (_fused && DecoderBlockEmitter.FusesAttention(_c))
            attentionBias = _g.Op("Where", [allowed, _g.Float(0f), _g.Float(float.MinValue)]);             // (B, 1, T, S) additive
        var block = new DecoderBlockEmitter(_g, _w, _c, allowed, rope, attentionBias);
        if (_fused)
        {
            _g.Scope = "/blocks.0";
            var normed = block.Norm(x, "blocks.0.norm1");
            for (var i = 0; i < _c.NumLayers; i++)
            {
                _g.Scope = $"/blocks.{i}";
                (normed, x) = block.EmitFused(normed, x, i, _withPast);
            }
            _g.Scope = "/head";
            x = normed; // the last SkipLayerNormalization applied the final norm
        }
        else
        {
            for (var i = 0; i < _c.NumLayers; i++)
            {
                _g.Scope = $"/blocks.{i}";
                x = block.Emit(x, i, _withPast);
            }

            _g.Scope = "/head";
            x = block.Norm(x, "norm");
        }
        // Tied: the head is the embedding table itself (stored once); ONNX Runtime folds the Transpose at load.
        var head = _c.TieEmbeddings
            ? _g.Op("Transpose", [_w.Fp32("tok_embed.weight")], ("perm", new long[] { 1, 0 }))
            : _w.Fp32("lm_head.weight", transpose: true);
        _g.OpNamed("MatMul", [x, head], ["logits"]);                                                      // (B, T, V)
        _g.Output("logits", DataType.Float, "batch", "sequence", _c.VocabSize);
        for (var i = 0; _withPast && i < _c.NumLayers; i++)
        {
            _g.Output($"present.{i}.key", DataType.Float, "batch", _c.KvHeads, "past_sequence + sequence", _c.HeadDim);
            _g.Output($"present.{i}.value", DataType.Float, "batch", _c.KvHeads, "past_sequence + sequence", _c.HeadDim);
        }
    }

    /// <summary>RoPE cos/sin (T, Dh) from the positions, in float32 as <see cref="RotaryEmbedding"/> computes them (rope scaling included).</summary>
    private (string Cos, string Sin) RopeTables(string positions)
    {
        _g.Scope = "/rope";
        var d = _c.HeadDim;
        float[] invFreq;
        using (torch.NewDisposeScope())
        {
            // The same float32 expression as the TorchSharp module, so the tables match bit for bit.
            var f = RotaryEmbedding.InverseFrequencies(d, _c.RopeTheta, _c.RopeScaling);
            invFreq = f.to_type(ScalarType.Float32).data<float>().ToArray();
        }
        var bytes = new byte[invFreq.Length * 4];
        Buffer.BlockCopy(invFreq, 0, bytes, 0, bytes.Length);
        var inv = _g.Initializer("rope.inv_freq", DataType.Float, [invFreq.Length], bytes);              // (Dh/2,)
        var pos = _g.Op("Unsqueeze", [_g.Op("Cast", [positions], ("to", (long)DataType.Float)), _g.Int64([1])]); // (T, 1)
        var freqs = _g.Op("Mul", [pos, inv]);                                                             // (T, Dh/2)
        var emb = _g.Op("Concat", [freqs, freqs], ("axis", -1L));                                         // (T, Dh)
        return (_g.Op("Cos", [emb]), _g.Op("Sin", [emb]));
    }
}
