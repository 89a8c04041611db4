using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Pretrain.Onnx.Export;

namespace Pretrain.Onnx.Runtime;

/// <summary>
/// An exported decoder in ONNX Runtime (CPU): full-sequence logits, and, for a <c>--with-past</c> export, incremental
/// steps that feed <c>present.*</c> back as <c>past_key_values.*</c> through an <see cref="OnnxKvCache"/>.
/// The layout (layers, kv heads, head size, vocab) is read from the model's own inputs and outputs.
/// </summary>
public sealed class OnnxDecoderSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string[] _outputNames;

    private OnnxDecoderSession(InferenceSession session, string path)
    {
        _session = session;
        var inputs = session.InputMetadata;
        if (!inputs.ContainsKey("input_ids") || !session.OutputMetadata.ContainsKey("logits"))
            throw new OnnxExportException($"{path} is not a decoder export: it needs an input 'input_ids' and an output 'logits'.");
        HasAttentionMask = inputs.ContainsKey("attention_mask");
        NumLayers = inputs.Keys.Count(k => k.StartsWith("past_key_values.", StringComparison.Ordinal) && k.EndsWith(".key", StringComparison.Ordinal));
        WithPast = NumLayers > 0;
        VocabSize = session.OutputMetadata["logits"].Dimensions[^1];
        if (WithPast)
        {
            var past = inputs["past_key_values.0.key"].Dimensions; // (B, Hkv, P, Dh)
            KvHeads = past[1];
            HeadDim = past[3];
        }
        // logits, then present.{i}.key and present.{i}.value in layer order (the order OnnxKvCache keeps).
        _outputNames = ["logits", .. Enumerable.Range(0, NumLayers).SelectMany(i => new[] { $"present.{i}.key", $"present.{i}.value" })];
    }

    /// <summary>Opens <c>model.onnx</c>, or a folder holding it; <paramref name="threads"/> 0 lets ORT choose.</summary>
    public static OnnxDecoderSession Open(string path, int threads = 0)
    {
        var file = Directory.Exists(path) ? Path.Combine(path, "model.onnx") : path;
        if (!File.Exists(file))
            throw new OnnxExportException($"{file} does not exist; pass an export folder written by `pretrain export`.");
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (threads > 0)
            options.IntraOpNumThreads = threads;
        try
        {
            return new OnnxDecoderSession(new InferenceSession(file, options), file);
        }
        catch (OnnxRuntimeException e)
        {
            throw new OnnxExportException($"ONNX Runtime cannot load {file}: {e.Message}", e);
        }
    }

    /// <summary>The ONNX Runtime version string.</summary>
    public static string RuntimeVersion => OrtEnv.Instance().GetVersionString();

    /// <summary>Whether the export has past_key_values inputs.</summary>
    public bool WithPast { get; }

    /// <summary>Whether the export takes an attention_mask.</summary>
    public bool HasAttentionMask { get; }

    /// <summary>Transformer blocks (0 when the export has no cache inputs).</summary>
    public int NumLayers { get; }

    /// <summary>Key/value heads of the cache.</summary>
    public int KvHeads { get; }

    /// <summary>Width of one head in the cache.</summary>
    public int HeadDim { get; }

    /// <summary>Size of the logits' last axis.</summary>
    public int VocabSize { get; }

    /// <summary>Logits (B·T·V, row-major) of a whole batch; with past, from an empty cache.</summary>
    public float[] Logits(long[] inputIds, int batch, int sequence, long[]? attentionMask = null)
    {
        if (!WithPast)
        {
            using var outputs = Run(inputIds, batch, sequence, attentionMask, null);
            return outputs[0].GetTensorDataAsSpan<float>().ToArray();
        }
        using var cache = NewCache(batch);
        return Step(inputIds, batch, sequence, cache, attentionMask);
    }

    /// <summary>An empty cache (past_sequence = 0) for <paramref name="batch"/> rows.</summary>
    public OnnxKvCache NewCache(int batch)
    {
        if (!WithPast)
            throw new InvalidOperationException("This export has no past_key_values inputs; export it with --with-past.");
        var values = new OrtValue[2 * NumLayers];
        for (var i = 0; i < values.Length; i++)
            values[i] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, [batch, KvHeads, 0, HeadDim]);
        return new OnnxKvCache(values, batch, 0);
    }

    /// <summary>
    /// Runs <paramref name="sequence"/> new tokens per row after the cached ones; returns their logits (B·T·V) and
    /// advances <paramref name="cache"/>. The mask, when given, covers cached + new positions.
    /// </summary>
    public float[] Step(long[] inputIds, int batch, int sequence, OnnxKvCache cache, long[]? attentionMask = null)
    {
        var outputs = Run(inputIds, batch, sequence, attentionMask, cache);
        try
        {
            var logits = outputs[0].GetTensorDataAsSpan<float>().ToArray();
            outputs[0].Dispose();
            cache.Replace([.. outputs.Skip(1)], cache.Length + sequence); // the cache owns the present values now
            return logits;
        }
        catch
        {
            outputs.Dispose();
            throw;
        }
    }

    private IDisposableReadOnlyCollection<OrtValue> Run(long[] inputIds, int batch, int sequence, long[]? attentionMask, OnnxKvCache? cache)
    {
        var total = sequence + (cache?.Length ?? 0);
        if (inputIds.Length != (long)batch * sequence)
            throw new ArgumentException($"input_ids has {inputIds.Length} values, not batch·sequence = {batch}·{sequence}.", nameof(inputIds));
        attentionMask ??= Enumerable.Repeat(1L, batch * total).ToArray();
        if (attentionMask.Length != (long)batch * total)
            throw new ArgumentException($"attention_mask has {attentionMask.Length} values, not batch·(past + sequence) = {batch}·{total}.", nameof(attentionMask));
        var names = new List<string> { "input_ids" };
        var owned = new List<OrtValue> { OrtValue.CreateTensorValueFromMemory(inputIds, [batch, sequence]) };
        if (HasAttentionMask)
        {
            names.Add("attention_mask");
            owned.Add(OrtValue.CreateTensorValueFromMemory(attentionMask, [batch, total]));
        }
        var values = new List<OrtValue>(owned);
        for (var i = 0; cache is not null && i < NumLayers; i++)
        {
            names.Add($"past_key_values.{i}.key");
            names.Add($"past_key_values.{i}.value");
            values.Add(cache.Values[2 * i]);
            values.Add(cache.Values[2 * i + 1]);
        }
        try
        {
            using var runOptions = new RunOptions();
            return _session.Run(runOptions, names, values, _outputNames);
        }
        finally
        {
            foreach (var v in owned)
                v.Dispose();
        }
    }

    public void Dispose() => _session.Dispose();
}
