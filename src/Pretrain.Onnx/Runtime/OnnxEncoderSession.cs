using Microsoft.ML.OnnxRuntime;
using Pretrain.Onnx.Import;

namespace Pretrain.Onnx.Runtime;

/// <summary>
/// A BERT-family encoder in ONNX Runtime (CPU): feeds <c>input_ids</c>, and <c>attention_mask</c> /
/// <c>token_type_ids</c> where the graph has them, and returns the hidden-state output (B·T·C, row-major).
/// </summary>
public sealed class OnnxEncoderSession : IDisposable
{
    private readonly InferenceSession _session;

    private OnnxEncoderSession(InferenceSession session, string outputName)
    {
        _session = session;
        OutputName = outputName;
        if (!session.InputMetadata.ContainsKey("input_ids"))
            throw new OnnxImportException($"The encoder graph has no 'input_ids' input (it has {string.Join(", ", session.InputMetadata.Keys)}).");
        if (!session.OutputMetadata.ContainsKey(outputName))
            throw new OnnxImportException($"The encoder graph has no output '{outputName}' (it has {string.Join(", ", session.OutputMetadata.Keys)}).");
    }

    /// <summary>The output returned by <see cref="Run"/>.</summary>
    public string OutputName { get; }

    /// <summary>Opens an .onnx file.</summary>
    public static OnnxEncoderSession Open(string path, string outputName = "last_hidden_state", int threads = 0) =>
        Create(options => new InferenceSession(path, options), path, outputName, threads);

    /// <summary>Opens a serialized model held in memory (no external data).</summary>
    public static OnnxEncoderSession Open(byte[] model, string source, string outputName = "last_hidden_state", int threads = 0) =>
        Create(options => new InferenceSession(model, options), source, outputName, threads);

    /// <summary>The hidden states (B·T·C) for a batch; mask null means all tokens real, types null means all 0.</summary>
    public float[] Run(long[] inputIds, int batch, int sequence, long[]? attentionMask = null, long[]? tokenTypeIds = null)
    {
        long[] shape = [batch, sequence];
        var names = new List<string> { "input_ids" };
        var values = new List<OrtValue> { OrtValue.CreateTensorValueFromMemory(inputIds, shape) };
        try
        {
            if (_session.InputMetadata.ContainsKey("attention_mask"))
            {
                names.Add("attention_mask");
                values.Add(OrtValue.CreateTensorValueFromMemory(attentionMask ?? Enumerable.Repeat(1L, batch * sequence).ToArray(), shape));
            }
            if (_session.InputMetadata.ContainsKey("token_type_ids"))
            {
                names.Add("token_type_ids");
                values.Add(OrtValue.CreateTensorValueFromMemory(tokenTypeIds ?? new long[batch * sequence], shape));
            }
            using var run = new RunOptions();
            using var outputs = _session.Run(run, names, values, [OutputName]);
            return outputs[0].GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            foreach (var v in values)
                v.Dispose();
        }
    }

    public void Dispose() => _session.Dispose();

    private static OnnxEncoderSession Create(Func<SessionOptions, InferenceSession> open, string source, string outputName, int threads)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (threads > 0)
            options.IntraOpNumThreads = threads;
        try
        {
            return new OnnxEncoderSession(open(options), outputName);
        }
        catch (OnnxRuntimeException e)
        {
            throw new OnnxImportException($"ONNX Runtime cannot load {source}: {e.Message}", e);
        }
    }
}
