using System.Globalization;
using Pretrain.Distributed.Probe;

namespace Pretrain.Distributed.Tests;

/// <summary>
/// Every collective of the MPI backend under the real mpirun with 2 and 3 ranks: each rank's result equals the value
/// this test computes from every rank's inputs with plain loops, and every rank holds the same bits.
/// </summary>
public sealed class MpiCollectivesTests
{
    [ReferenceTheory(ReferenceTool.Mpi)]
    [InlineData(2, 0)]
    [InlineData(3, 5)] // every count above 5 elements split into MPI calls of ≤ 5: the >int.MaxValue path, cheaply
    public void Every_collective_matches_the_values_computed_here(int world, int maxCount)
    {
        ReferenceTools.Require(ReferenceTool.Mpi);
        string dir = Directory.CreateTempSubdirectory("pretrain-mpi-").FullName;
        try
        {
            var environment = maxCount > 0 ? new Dictionary<string, string> { ["PRETRAIN_MPI_MAX_COUNT"] = maxCount.ToString(CultureInfo.InvariantCulture) } : null;
            var (code, output, _) = MpiRun.Probe(world, ["collectives", dir], TimeSpan.FromSeconds(120), environment);
            Assert.True(code == 0, $"mpirun exited {code}:\n{output}");
            var ranks = Enumerable.Range(0, world).Select(r => File.ReadAllLines(Path.Combine(dir, $"rank{r}.txt"))).ToArray();
            for (int r = 0; r < world; r++)
            {
                var lines = ranks[r].Select(l => l.Split(": ", 2)).ToDictionary(p => p[0], p => p[1]);
                Assert.Equal($"{r} {world} {r} {world} mpirun", lines["env"]);
                Assert.Equal($"{r} {world} {r} mpi", lines["world"]);
                CheckValues(lines, world);
            }
            // Bitwise-identical results on every rank (all but the two lines that name the rank).
            for (int r = 1; r < world; r++) Assert.Equal(ranks[0][2..], ranks[r][2..]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void CheckValues(Dictionary<string, string> lines, int world)
    {
        int n = ProbeData.Length;
        var ranks = Enumerable.Range(0, world).ToArray();
        foreach (var (op, fold) in new (string, Func<IEnumerable<double>, double>)[] { ("Sum", v => v.Sum()), ("Avg", v => v.Sum() / world), ("Max", v => v.Max()), ("Min", v => v.Min()) })
        {
            bool exact = op is "Max" or "Min";
            var f64 = Enumerable.Range(0, n).Select(i => fold(ranks.Select(r => ProbeData.Float(r, i)))).ToArray();
            var f32 = Enumerable.Range(0, n).Select(i => fold(ranks.Select(r => (double)(float)ProbeData.Float(r, i)))).ToArray();
            AssertClose(f64, Doubles(lines[$"all_reduce Float64 {op}"]), exact ? 0 : 1e-12, $"Float64 {op}");
            AssertClose(f32, Doubles(lines[$"all_reduce Float32 {op}"]), exact ? 0 : 2e-6, $"Float32 {op}");
            if (op == "Avg") continue;
            Func<IEnumerable<long>, long> foldLong = op switch { "Sum" => v => v.Sum(), "Max" => v => v.Max(), _ => v => v.Min() };
            var i64 = Enumerable.Range(0, n).Select(i => foldLong(ranks.Select(r => ProbeData.Int64(r, i)))).ToArray();
            Assert.Equal(ProbeData.Format(i64), lines[$"all_reduce Int64 {op}"]);
        }
        // bfloat16: inputs rounded to bf16, summed, rounded once more (one bf16 rounding step of slack, 2^-8 relative).
        var bf16 = Enumerable.Range(0, n).Select(i => (double)Bf16(ranks.Sum(r => Bf16((float)ProbeData.Float(r, i))))).ToArray();
        AssertClose(bf16, Doubles(lines["all_reduce BFloat16 Sum"]), 1.0 / 256, "BFloat16 Sum");
        Assert.Contains("average of Int64 values is not an integer", lines["all_reduce Int64 Avg error"]);
        string view = string.Join(' ', Enumerable.Range(0, 10).Select(i => i is >= 3 and < 7 ? world * (world + 1) / 2 : 0));
        Assert.Equal(view, lines["all_reduce view"]);

        int root = world - 1;
        Assert.Equal(ProbeData.Format(Enumerable.Range(0, n).Select(i => ProbeData.Float(root, i))), lines[$"broadcast Float64 root {root}"]);
        Assert.Equal(ProbeData.Format(ranks.SelectMany(r => Enumerable.Range(0, n).Select(i => ProbeData.Int64(r, i)))),
            lines[$"all_gather Int64 [{world},{n},1]"]);
        Assert.Equal(string.Join(" | ", ranks.Select(r => Convert.ToHexString(ProbeData.Bytes(r)))), lines["all_gather_bytes"]);
        Assert.Equal(string.Join(" | ", ranks.Select(r => r == 0 ? Convert.ToHexString(ProbeData.Bytes(2)) : "")), lines["all_gather_bytes empty others"]);
        Assert.Equal(Convert.ToHexString(ProbeData.Bytes(root + 2)), lines[$"broadcast_bytes root {root}"]);
        Assert.Equal("ok", lines["barrier waited"]);
    }

    private static double[] Doubles(string text) => text.Split(' ').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();

    private static void AssertClose(double[] expected, double[] actual, double relative, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double tolerance = relative * Math.Max(1, Math.Abs(expected[i]));
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R}");
        }
    }

    /// <summary>Round to bfloat16 (nearest, ties to even) and back to float: the top 16 bits of the float32.</summary>
    private static float Bf16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        bits += 0x7FFF + ((bits >> 16) & 1);
        return BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000);
    }
}
