using Microsoft.ML.OnnxRuntime;

namespace Pretrain.Onnx.Runtime;

/// <summary>
/// The key/value cache of an ONNX decoder session: the last run's <c>present.{i}.key|value</c> values
/// (float32 [batch, kv_heads, length, head_dim]), fed back as the next run's <c>past_key_values</c> without a copy.
/// </summary>
public sealed class OnnxKvCache : IDisposable
{
    private OrtValue[] _values;

    internal OnnxKvCache(OrtValue[] values, int batch, int length)
    {
        _values = values;
        Batch = batch;
        Length = length;
    }

    /// <summary>Rows in the cache.</summary>
    public int Batch { get; }

    /// <summary>Positions cached so far (past_sequence).</summary>
    public int Length { get; private set; }

    /// <summary>Key and value of each layer, in order (layer 0 key, layer 0 value, …).</summary>
    internal IReadOnlyList<OrtValue> Values => _values;

    internal void Replace(OrtValue[] values, int length)
    {
        foreach (var v in _values)
            v.Dispose();
        _values = values;
        Length = length;
    }

    public void Dispose()
    {
        foreach (var v in _values)
            v.Dispose();
        _values = [];
    }
}
