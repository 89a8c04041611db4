using System.Collections.Concurrent;
using System.Diagnostics;
using static TorchSharp.torch;

namespace Pretrain.Training.Precision;

/// <summary>
/// The CPU's achievable matmul rate, measured once per dtype and thread count (cached for the process): the
/// fastest of 5 timed 512×512×512 matmuls after a warm-up. A peak is the best rate seen, not a typical one: the
/// median undershot it on a shared machine (the quickstart then logged mfu 1.77). It is the CPU row of the peak
/// table MFU divides by, and what train.precision auto compares (bf16 against fp32).
/// </summary>
public static class MatmulProbe
{
    private static readonly ConcurrentDictionary<(ScalarType, int), double> Cache = new();

    /// <summary>Measured TFLOP/s of a <paramref name="dtype"/> matmul on the CPU with the current thread count.</summary>
    public static double Cpu(ScalarType dtype) => Cache.GetOrAdd((dtype, get_num_threads()), key => Measure(key.Item1));

    private static double Measure(ScalarType dtype)
    {
        const int n = 512;
        using var scope = NewDisposeScope();
        using var generator = new Generator(0, CPU);   // its own: the run's seeded RNG stream must not depend on the cache
        var a = randn([n, n], generator: generator).to(dtype);
        var b = randn([n, n], generator: generator).to(dtype);
        for (int i = 0; i < 2; i++) a.matmul(b).Dispose();
        var times = new double[5];
        for (int i = 0; i < times.Length; i++)
        {
            var sw = Stopwatch.StartNew();
            a.matmul(b).Dispose();
            times[i] = sw.Elapsed.TotalSeconds;
        }
        return 2.0 * n * n * n / Math.Max(times.Min(), 1e-9) / 1e12;
    }
}
