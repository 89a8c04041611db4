using Pretrain.Models.Heads;
using Pretrain.Models.Text;
using Pretrain.Onnx.Graph;
using static Pretrain.Onnx.Proto.TensorProto.Types;

namespace Pretrain.Onnx.Export;

/// <summary>
/// Emits an <see cref="EncoderLm"/> (BERT post-LN or pre-LN) as an ONNX graph of standard opset-17 operators:
/// <c>input_ids</c>, <c>attention_mask</c> and (with segments) <c>token_type_ids</c>, int64 [batch, sequence] →
/// (with a classifier first) <c>logits</c> [batch, classes], then <c>last_hidden_state</c> float32
/// [batch, sequence, d], <c>pooler_output</c> [batch, d] with a pooler, and <c>embeddings</c> [batch, d], the
/// sentence-transformers masked mean of the hidden states. The classifier reads what its checkpoint's
/// <c>pretrain.pooling</c> names (<see cref="ClassifierHead.Pooling"/>: mean → embeddings, cls → the first token's
/// hidden state), as pretrain's SequenceClassifier does; without one (a Hugging Face BertForSequenceClassification)
/// pooler_output when there is a pooler, else the first token. Padding keys get the additive mask
/// (1 − mask)·float.MinValue, as the TorchSharp model does.
/// </summary>
internal sealed class EncoderLmEmitter
{
    private readonly EncoderLmConfig _c;
    private readonly OnnxGraphBuilder _g;
    private readonly OnnxWeights _w;
    private readonly EncoderStackEmitter _stack;
    private readonly bool _classifier;
    private readonly bool _fused;
    private readonly string? _pooling;

    private EncoderLmEmitter(EncoderLm model, ClassifierHead? classifier, int opset, OnnxDtype dtype, bool fused)
    {
        _fused = fused;
        _c = model.Config;
        _g = new OnnxGraphBuilder(opset, _c.PostNorm ? "bert_encoder" : "preln_encoder");
        var tensors = model.named_parameters().Select(p => (p.name, (TorchSharp.torch.Tensor)p.parameter));
        if (classifier is not null)
            tensors = tensors.Concat(classifier.named_parameters().Select(p => ("classifier." + p.name, (TorchSharp.torch.Tensor)p.parameter)));
        _w = new OnnxWeights(_g, tensors, dtype);
        _stack = new EncoderStackEmitter(_g, _w, _c.EmbedDim, _c.NumHeads, _c.NormEps);
        _classifier = classifier is not null;
        _pooling = classifier?.Pooling;
    }

    /// <summary>
    /// Builds the graph for <paramref name="model"/> (and its classifier head, when given); <paramref name="fused"/>
    /// (<c>--optimize</c>) emits the blocks with ONNX Runtime's fused operators (<see cref="EncoderStackEmitter.FusedBlocks"/>).
    /// </summary>
    public static OnnxGraphBuilder Emit(EncoderLm model, int opset, OnnxDtype dtype, ClassifierHead? classifier = null, bool fused = false)
    {
        var emitter = new EncoderLmEmitter(model, classifier, opset, dtype, fused);
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
        x = _stack.Norm(x, "embed_norm");

        string hidden;
        _g.Scope = "/mask";
        if (_fused)
        {
            // com.microsoft Attention reads the raw (B, T) mask as int32 (1 = attend, 0 = padding).
            var maskIndex = _g.Op("Cast", [mask], ("to", (long)DataType.Int32));
            hidden = _stack.FusedBlocks(x, _c.NumLayers, _c.PostNorm, maskIndex, _c.PostNorm ? null : "norm");
            _g.Scope = "/head";
        }
        else
        {
            // Additive key-padding mask (B, 1, 1, T): 0 for real tokens, float.MinValue for padding.
            var keep4 = _g.Op("Cast", [_g.Op("Unsqueeze", [mask, _g.Int64([1, 2])])], ("to", (long)DataType.Float));
            var additive = _g.Op("Mul", [_g.Op("Sub", [_g.Float(1f), keep4]), _g.Float(float.MinValue)]);

            x = _stack.Blocks(x, _c.NumLayers, _c.PostNorm, additive);
            _g.Scope = "/head";
            hidden = _c.PostNorm ? x : _stack.Norm(x, "norm");
        }
        _g.OpNamed("Identity", [hidden], ["last_hidden_state"]);
        var first = _g.Op("Gather", ["last_hidden_state", _g.Int64([0], scalar: true)], ("axis", 1L));     // (B, C)
        string? pooled = null;
        if (_c.Pooler)
            pooled = _g.OpNamed("Tanh", [_w.Linear(first, "pooler")], ["pooler_output"])[0];

        // Masked mean (sentence-transformers): Σ h·m / max(Σ m, 1e-9).
        _g.Scope = "/pool";
        var m = _g.Op("Cast", [_g.Op("Unsqueeze", [mask, _g.Int64([2])])], ("to", (long)DataType.Float));  // (B, T, 1)
        var sum = _g.Op("ReduceSum", [_g.Op("Mul", ["last_hidden_state", m]), _g.Int64([1])], ("keepdims", 0L)); // (B, C)
        var count = _g.Op("Max", [_g.Op("ReduceSum", [m, _g.Int64([1])], ("keepdims", 0L)), _g.Float(1e-9f)]);    // (B, 1)
        var mean = _g.OpNamed("Div", [sum, count], ["embeddings"])[0];
        if (_classifier)
        {
            // The features the head was trained on (checkpoint pretrain.pooling); HF's BERT classifier: the pooler.
            var features = _pooling switch { "mean" => mean, "cls" => first, _ => pooled ?? first };
            _g.Scope = "/head";
            _g.OpNamed("Identity", [_w.Linear(features, "classifier.fc")], ["logits"]);
            _g.Output("logits", DataType.Float, "batch", _w.Rows("classifier.fc.weight"));
        }
        _g.Output("last_hidden_state", DataType.Float, "batch", "sequence", _c.EmbedDim);
        if (pooled is not null)
            _g.Output("pooler_output", DataType.Float, "batch", _c.EmbedDim);
        _g.Output("embeddings", DataType.Float, "batch", _c.EmbedDim);
    }
}
