using System.Globalization;

namespace Pretrain.Distributed.Probe;

/// <summary>Each rank's input values, a function of (rank, index) only; the test recomputes them to form expected results.</summary>
public static class ProbeData
{
    public const int Length = 37;

    public static double Float(int rank, int i) => ((rank * 37 + i * 11) % 17 - 8) * 0.375 + rank * 0.001 + i * 1e-4;

    public static long Int64(int rank, int i) => (rank + 1) * 1_000_000_000_000L + (long)i * (rank - 1) - rank * 7L;

    public static byte[] Bytes(int rank) => Enumerable.Range(0, rank * 3 + 1).Select(i => (byte)(rank * 40 + i)).ToArray();

    public static string Format(IEnumerable<double> values) => string.Join(' ', values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));

    public static string Format(IEnumerable<long> values) => string.Join(' ', values.Select(v => v.ToString(CultureInfo.InvariantCulture)));
}
