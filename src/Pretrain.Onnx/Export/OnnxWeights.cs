using Pretrain.Onnx.Graph;
using TorchSharp;
using static Pretrain.Onnx.Proto.TensorProto.Types;
using static TorchSharp.torch;

namespace Pretrain.Onnx.Export;

/// <summary>
/// The model's parameters as graph initializers, named by their state-dict keys (a "<c>.T</c>" suffix marks a
/// Linear weight stored transposed, (in, out), for MatMul). Each is stored once, in the export dtype; in fp16 the
/// graph Casts it to float32 where it is used.
/// </summary>
internal sealed class OnnxWeights
{
    private readonly OnnxGraphBuilder _g;
    private readonly Dictionary<string, Tensor> _params;
    private readonly bool _fp16;
    private readonly Dictionary<string, string> _stored = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _fp32 = new(StringComparer.Ordinal);

    public OnnxWeights(OnnxGraphBuilder g, IEnumerable<(string Name, TorchSharp.Modules.Parameter Parameter)> parameters, OnnxDtype dtype)
        : this(g, parameters.Select(p => (p.Name, (Tensor)p.Parameter)), dtype)
    {
    }

    /// <summary>Weights from any named tensors (parameters, buffers, or a head's parameters under a prefix).</summary>
    public OnnxWeights(OnnxGraphBuilder g, IEnumerable<(string Name, Tensor Tensor)> tensors, OnnxDtype dtype)
    {
        _g = g;
        _params = tensors.ToDictionary(p => p.Name, p => p.Tensor, StringComparer.Ordinal);
        _fp16 = dtype == OnnxDtype.Fp16;
    }

    /// <summary>Whether the model has a parameter with this state-dict key (e.g. a bias).</summary>
    public bool Has(string key) => _params.ContainsKey(key);

    /// <summary>The initializer as stored (fp32 or fp16).</summary>
    public string Stored(string key, bool transpose = false)
    {
        var name = transpose ? key + ".T" : key;
        if (_stored.TryGetValue(name, out var stored))
            return stored;
        if (!_params.TryGetValue(key, out var p))
            throw new InvalidOperationException($"The model has no parameter '{key}'.");
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var t = (transpose ? p.detach().t() : p.detach()).to_type(_fp16 ? ScalarType.Float16 : ScalarType.Float32).cpu().contiguous();
        var data = t.bytes.ToArray();
        _stored[name] = _g.Initializer(name, _fp16 ? DataType.Float16 : DataType.Float, t.shape, data);
        return name;
    }

    /// <summary>The weight as a float32 value: the initializer itself, or its Cast in an fp16 export.</summary>
    public string Fp32(string key, bool transpose = false)
    {
        var stored = Stored(key, transpose);
        if (!_fp16)
            return stored;
        if (!_fp32.TryGetValue(stored, out var cast))
            _fp32[stored] = cast = _g.OpNamed("Cast", [stored], [stored + "_fp32"], ("to", (long)DataType.Float))[0];
        return cast;
    }

    /// <summary>Rows of an embedding table: Gather on the stored table, then Cast the (small) result in fp16.</summary>
    public string Gather(string key, string indices)
    {
        var rows = _g.Op("Gather", [Stored(key), indices], ("axis", 0L));
        return _fp16 ? _g.Op("Cast", [rows], ("to", (long)DataType.Float)) : rows;
    }

    /// <summary>x·Wᵀ (+ b) for a Linear layer named <paramref name="prefix"/> (weight (out, in) stored as (in, out)).</summary>
    public string Linear(string x, string prefix)
    {
        var y = _g.Op("MatMul", [x, Fp32(prefix + ".weight", transpose: true)]);
        return Has(prefix + ".bias") ? _g.Op("Add", [y, Fp32(prefix + ".bias")]) : y;
    }

    /// <summary>x·Wᵀ of a Linear layer without its bias (a fused operator that follows adds the bias).</summary>
    public string MatMul(string x, string prefix) => _g.Op("MatMul", [x, Fp32(prefix + ".weight", transpose: true)]);

    /// <summary>The bias of the Linear layer <paramref name="prefix"/> as float32, or null when it has none.</summary>
    public string? Bias(string prefix) => Has(prefix + ".bias") ? Fp32(prefix + ".bias") : null;

    /// <summary>
    /// The weights of several Linear layers side by side, (in, Σ out), stored once under <paramref name="name"/>
    /// (e.g. q, k, v → the packed QKV weight of com.microsoft Attention), as float32.
    /// </summary>
    public string PackedWeight(string name, IReadOnlyList<string> prefixes) =>
        Packed(name, prefixes.Select(p => p + ".weight").ToList(), transpose: true);

    /// <summary>The biases of several Linear layers concatenated (Σ out), as float32; null when any has none.</summary>
    public string? PackedBias(string name, IReadOnlyList<string> prefixes) =>
        prefixes.All(p => Has(p + ".bias")) ? Packed(name, prefixes.Select(p => p + ".bias").ToList(), transpose: false) : null;

    private string Packed(string name, List<string> keys, bool transpose)
    {
        if (!_stored.ContainsKey(name))
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var parts = keys.Select(k => _params.TryGetValue(k, out var p)
                ? (transpose ? p.detach().t() : p.detach())
                : throw new InvalidOperationException($"The model has no parameter '{k}'.")).ToArray();
            var t = torch.cat(parts, dim: -1).to_type(_fp16 ? ScalarType.Float16 : ScalarType.Float32).cpu().contiguous();
            _stored[name] = _g.Initializer(name, _fp16 ? DataType.Float16 : DataType.Float, t.shape, t.bytes.ToArray());
        }
        if (!_fp16)
            return name;
        if (!_fp32.TryGetValue(name, out var cast))
            _fp32[name] = cast = _g.OpNamed("Cast", [name], [name + "_fp32"], ("to", (long)DataType.Float))[0];
        return cast;
    }

    /// <summary>The first dimension of a parameter (a Linear layer's output width).</summary>
    public long Rows(string key) => _params.TryGetValue(key, out var p)
        ? p.shape[0]
        : throw new InvalidOperationException($"The model has no parameter '{key}'.");
}
