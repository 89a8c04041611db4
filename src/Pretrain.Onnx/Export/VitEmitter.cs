using Pretrain.Models.Heads;
using Pretrain.Models.Vision;
using Pretrain.Onnx.Graph;
using TorchSharp;
using static Pretrain.Onnx.Proto.TensorProto.Types;
using static TorchSharp.torch;

namespace Pretrain.Onnx.Export;

/// <summary>
/// Emits a <see cref="VisionTransformer"/> as an ONNX graph: <c>pixel_values</c> float32 [batch, C, H, W] (H, W
/// fixed at the configured image size) → (with a classifier first) <c>logits</c> [batch, classes], then
/// <c>last_hidden_state</c> [batch, [1+]N, d] after the final LayerNorm, and <c>embeddings</c> [batch, d] (the class
/// token's output, or the mean of the patch tokens, by global_pool). Patch embedding is a strided Conv; the class
/// token (with its position row added) is Expanded over the batch and Concatenated in front; the position table,
/// learned or sin-cos, is a constant. Blocks are pre-LN <see cref="EncoderStackEmitter"/> blocks without a mask.
/// </summary>
internal sealed class VitEmitter
{
    private readonly VitConfig _c;
    private readonly VisionTransformer _model;
    private readonly OnnxGraphBuilder _g;
    private readonly OnnxWeights _w;
    private readonly EncoderStackEmitter _stack;
    private readonly bool _classifier;
    private readonly bool _fused;

    private VitEmitter(VisionTransformer model, ClassifierHead? classifier, int opset, OnnxDtype dtype, bool fused)
    {
        _fused = fused;
        _c = model.Config;
        _model = model;
        _g = new OnnxGraphBuilder(opset, "vit_encoder");
        var tensors = model.named_parameters().Select(p => (p.name, (Tensor)p.parameter));
        if (classifier is not null)
            tensors = tensors.Concat(classifier.named_parameters().Select(p => ("classifier." + p.name, (Tensor)p.parameter)));
        _w = new OnnxWeights(_g, tensors, dtype);
        _stack = new EncoderStackEmitter(_g, _w, _c.EmbedDim, _c.NumHeads, _c.NormEps);
        _classifier = classifier is not null;
    }

    /// <summary>Builds the graph for <paramref name="model"/> (and its classifier head, when given).</summary>
    /// <remarks><paramref name="fused"/> (<c>--optimize</c>): the blocks with ONNX Runtime's fused operators, no mask.</remarks>
    public static OnnxGraphBuilder Emit(VisionTransformer model, int opset, OnnxDtype dtype, ClassifierHead? classifier = null, bool fused = false)
    {
        var emitter = new VitEmitter(model, classifier, opset, dtype, fused);
        emitter.Build();
        return emitter._g;
    }

    private void Build()
    {
        int d = _c.EmbedDim, p = _c.PatchSize, prefix = _model.PrefixTokens;
        var pixels = _g.Input("pixel_values", DataType.Float, "batch", _c.NumChannels, _c.ImageSize, _c.ImageSize);

        _g.Scope = "/embeddings";
        var conv = _g.Op("Conv", [pixels, _w.Fp32("patch_embed.weight"), _w.Fp32("patch_embed.bias")],
            ("kernel_shape", new long[] { p, p }), ("strides", new long[] { p, p }));                        // (B, d, G, G)
        var x = _g.Op("Transpose", [_g.Op("Reshape", [conv, _g.Int64([0, d, _c.NumPatches])])], ("perm", new long[] { 0, 2, 1 })); // (B, N, d)
        var positions = Table();                                                                             // (1, [1+]N, d)
        using (torch.NewDisposeScope())
        {
            x = _g.Op("Add", [x, Constant("pos_embed.patches", positions[.., prefix..])]);
            if (prefix == 1)
            {
                var cls = Constant("cls_token.positioned", _model.get_parameter("cls_token")!.detach() + positions[.., ..1]); // (1, 1, d)
                var batch = _g.Op("Gather", [_g.Op("Shape", [x]), _g.Int64([0])], ("axis", 0L));          // (1,)
                var shape = _g.Op("Concat", [batch, _g.Int64([1, d])], ("axis", 0L));                      // [B, 1, d]
                x = _g.Op("Concat", [_g.Op("Expand", [cls, shape]), x], ("axis", 1L));                     // (B, 1 + N, d)
            }
        }
        positions.Dispose();

        string hidden;
        if (_fused)
        {
            hidden = _stack.FusedBlocks(x, _c.NumLayers, postNorm: false, maskIndex: null, finalNorm: "norm");
            _g.Scope = "/head";
        }
        else
        {
            x = _stack.Blocks(x, _c.NumLayers, postNorm: false, additiveMask: null);
            _g.Scope = "/head";
            hidden = _stack.Norm(x, "norm");
        }
        _g.OpNamed("Identity", [hidden], ["last_hidden_state"]);
        var pooled = _c.GlobalPool == "cls"
            ? _g.Op("Gather", ["last_hidden_state", _g.Int64([0], scalar: true)], ("axis", 1L))             // (B, d)
            : _g.Op("Squeeze", [_g.ReduceMean(
                _g.Op("Slice", ["last_hidden_state", _g.Int64([prefix]), _g.Int64([long.MaxValue]), _g.Int64([1])]), [1]), _g.Int64([1])]);
        _g.OpNamed("Identity", [pooled], ["embeddings"]);
        if (_classifier)
        {
            _g.OpNamed("Identity", [_w.Linear("embeddings", "classifier.fc")], ["logits"]);
            _g.Output("logits", DataType.Float, "batch", _w.Rows("classifier.fc.weight"));
        }
        _g.Output("last_hidden_state", DataType.Float, "batch", prefix + _c.NumPatches, d);
        _g.Output("embeddings", DataType.Float, "batch", d);
    }

    /// <summary>The position table (1, [1+]N, d): the learned parameter or the sin-cos buffer.</summary>
    private Tensor Table()
    {
        var table = _model.named_parameters().Where(x => x.name == "pos_embed").Select(x => (Tensor)x.parameter)
            .Concat(_model.named_buffers().Where(x => x.name == "pos_embed").Select(x => x.buffer)).First();
        return table.detach().to_type(ScalarType.Float32).clone();
    }

    /// <summary>A float32 constant made from a tensor computed at export time.</summary>
    private string Constant(string name, Tensor value)
    {
        var t = value.detach().to_type(ScalarType.Float32).cpu().contiguous();
        return _g.Initializer(name, DataType.Float, t.shape, t.bytes.ToArray());
    }
}
