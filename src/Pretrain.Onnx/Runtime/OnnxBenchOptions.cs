using Pretrain.Onnx.Export;

namespace Pretrain.Onnx.Runtime;

/// <summary>Settings of <see cref="OnnxBench.Run"/> (the flags of <c>pretrain bench-onnx</c>).</summary>
public sealed record OnnxBenchOptions
{
    /// <summary>Rows per run (<c>--batch</c>).</summary>
    public int Batch { get; init; } = 1;

    /// <summary>Tokens per row for text models (<c>--seq</c>); image models use their declared size.</summary>
    public int Sequence { get; init; } = 128;

    /// <summary>ONNX Runtime intra-op threads (<c>--threads</c>); all cores by default.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Untimed rounds first (<c>--warmup</c>).</summary>
    public int Warmup { get; init; } = 5;

    /// <summary>Timed rounds (<c>--runs</c>); each round runs every folder once.</summary>
    public int Runs { get; init; } = 20;

    /// <summary>Seed of the random inputs (the same inputs for every folder of one shape).</summary>
    public int Seed { get; init; } = 1234;

    /// <summary>Throws an <see cref="OnnxExportException"/> naming the bad setting.</summary>
    public void Check()
    {
        if (Batch is < 1 or > 4096)
            throw new OnnxExportException($"--batch {Batch} must be between 1 and 4096.");
        if (Sequence is < 1 or > 1 << 20)
            throw new OnnxExportException($"--seq {Sequence} must be between 1 and {1 << 20}.");
        if (Threads is < 1 or > 1024)
            throw new OnnxExportException($"--threads {Threads} must be between 1 and 1024.");
        if (Warmup is < 0 or > 10_000 || Runs is < 1 or > 100_000)
            throw new OnnxExportException($"--warmup ({Warmup}) must be 0–10000 and --runs ({Runs}) 1–100000.");
    }
}
