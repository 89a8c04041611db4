namespace Pretrain.Onnx.Runtime;

/// <summary>One folder's timings from <see cref="OnnxBench.Run"/>: latency quantiles over the timed runs (ms).</summary>
public sealed record OnnxBenchResult
{
    /// <summary>The folder (or .onnx file) as given.</summary>
    public required string Folder { get; init; }

    public required int Batch { get; init; }

    /// <summary>Tokens per row; 0 for image models.</summary>
    public required int Sequence { get; init; }

    public required int Threads { get; init; }

    /// <summary>Timed runs.</summary>
    public required int Runs { get; init; }

    public required double MedianMs { get; init; }

    public required double P25Ms { get; init; }

    public required double P75Ms { get; init; }

    public required double MinMs { get; init; }

    public required double MaxMs { get; init; }

    /// <summary>model.onnx plus model.onnx_data, bytes.</summary>
    public required long ModelBytes { get; init; }

    /// <summary>Rows (sequences or images) per second at the median latency.</summary>
    public double RowsPerSecond => Batch * 1000.0 / MedianMs;

    /// <summary>Tokens per second at the median latency (0 for image models).</summary>
    public double TokensPerSecond => RowsPerSecond * Sequence;
}
