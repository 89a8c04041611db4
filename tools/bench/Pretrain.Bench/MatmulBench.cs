using System.Diagnostics;
using static TorchSharp.torch;

namespace Pretrain.Bench;

/// <summary>The reference rate: a 1024×1024 @ 1024×1024 fp32 matmul on the CPU, at the process's torch thread count.</summary>
public static class MatmulBench
{
    private const int N = 1024;

    /// <summary>Median GFLOP/s (2·N³ per product) over <paramref name="reps"/> products after <paramref name="warmup"/>.</summary>
    public static double Measure(int warmup = 3, int reps = 20)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(42, CPU);
        var a = randn([N, N], ScalarType.Float32, generator: generator);
        var b = randn([N, N], ScalarType.Float32, generator: generator);
        for (int i = 0; i < warmup; i++) a.mm(b).Dispose();
        var seconds = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            using var c = a.mm(b);           // CPU ops are synchronous: the product is done when mm returns
            seconds[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        return 2.0 * N * N * N / Stats.Median(seconds) / 1e9;
    }
}
