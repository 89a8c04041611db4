using Microsoft.ML.OnnxRuntime;
using Pretrain.Onnx.Export;

namespace Pretrain.Onnx.Validation;

/// <summary>Runs an ONNX Runtime session (CPU, all graph optimizations) on named inputs and returns every output as float32.</summary>
internal sealed class OrtOutputs : IDisposable
{
    private readonly InferenceSession _session;

    public OrtOutputs(string modelPath)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        try
        {
            _session = new InferenceSession(modelPath, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new OnnxExportException($"ONNX Runtime cannot load {modelPath}: {e.Message}", e);
        }
    }

    /// <summary>Input names of the graph.</summary>
    public IReadOnlyCollection<string> Inputs => [.. _session.InputMetadata.Keys];

    /// <summary>Runs on int64 or float32 inputs ((data, shape) by name); returns each output's values, row-major.</summary>
    public Dictionary<string, float[]> Run(IReadOnlyDictionary<string, (Array Data, long[] Shape)> inputs)
    {
        var names = new List<string>();
        var values = new List<OrtValue>();
        try
        {
            foreach (var (name, (data, shape)) in inputs)
            {
                names.Add(name);
                values.Add(data switch
                {
                    long[] l => OrtValue.CreateTensorValueFromMemory(l, shape),
                    float[] f => OrtValue.CreateTensorValueFromMemory(f, shape),
                    _ => throw new ArgumentException($"Input {name}: int64 or float32 data expected."),
                });
            }
            var outputNames = _session.OutputMetadata.Keys.ToList();
            using var run = new RunOptions();
            using var outputs = _session.Run(run, names, values, outputNames);
            var result = new Dictionary<string, float[]>(StringComparer.Ordinal);
            for (var i = 0; i < outputNames.Count; i++)
                result[outputNames[i]] = outputs[i].GetTensorDataAsSpan<float>().ToArray();
            return result;
        }
        finally
        {
            foreach (var v in values)
                v.Dispose();
        }
    }

    public void Dispose() => _session.Dispose();
}
