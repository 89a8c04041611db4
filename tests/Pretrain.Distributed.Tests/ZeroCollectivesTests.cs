using System.Globalization;
using Pretrain.Distributed.Probe;

namespace Pretrain.Distributed.Tests;

/// <summary>
/// ZeRO-1's collectives of the MPI backend (reduce-scatter, in-place all-gather) under the real mpirun with 2 and 3
/// ranks: each rank's block equals what this test computes from every rank's inputs with plain loops, and every rank
/// ends the all-gather with the same bits. ~3 s per world size.
/// </summary>
public sealed class ZeroCollectivesTests
{
    [ReferenceTheory(ReferenceTool.Mpi)]
    [InlineData(2, 0)]
    [InlineData(3, 3)] // blocks of 7 split into MPI calls of ≤ 3 elements: the >int.MaxValue path, cheaply
    public void Reduce_scatter_and_in_place_all_gather_match_the_values_computed_here(int world, int maxCount)
    {
        ReferenceTools.Require(ReferenceTool.Mpi);
        string dir = Directory.CreateTempSubdirectory("pretrain-zero-").FullName;
        try
        {
            var environment = maxCount > 0 ? new Dictionary<string, string> { ["PRETRAIN_MPI_MAX_COUNT"] = maxCount.ToString(CultureInfo.InvariantCulture) } : null;
            var (code, output, _) = MpiRun.Probe(world, ["zero", dir], TimeSpan.FromSeconds(120), environment);
            Assert.True(code == 0, $"mpirun exited {code}:\n{output}");
            var ranks = Enumerable.Range(0, world).Select(r => File.ReadAllLines(Path.Combine(dir, $"rank{r}.txt"))
                .Select(l => l.Split(": ", 2)).ToDictionary(p => p[0], p => p[1])).ToArray();
            for (int r = 0; r < world; r++) Check(ranks[r], r, world);
            foreach (var key in ranks[0].Keys.Where(k => k.StartsWith("all_gather_in_place", StringComparison.Ordinal)))
            {
                for (int r = 1; r < world; r++) Assert.Equal(ranks[0][key], ranks[r][key]);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void Check(Dictionary<string, string> lines, int rank, int world)
    {
        int b = 7, n = b * world;   // ZeroProbe.Block
        var all = Enumerable.Range(0, world).ToArray();
        var mine = Enumerable.Range(rank * b, b).ToArray();
        AssertClose(mine.Select(i => all.Sum(q => (double)(float)ProbeData.Float(q, i))).ToArray(), Doubles(lines["reduce_scatter Float32 Sum"]), 2e-6, "Float32 Sum");
        AssertClose(mine.Select(i => all.Sum(q => ProbeData.Float(q, i)) / world).ToArray(), Doubles(lines["reduce_scatter Float64 Avg"]), 1e-12, "Float64 Avg");
        AssertClose(mine.Select(i => (double)Bf16(all.Sum(q => Bf16((float)ProbeData.Float(q, i))))).ToArray(), Doubles(lines["reduce_scatter BFloat16 Sum"]), 1.0 / 128, "BFloat16 Sum");
        Assert.Equal(ProbeData.Format(mine.Select(i => all.Max(q => ProbeData.Int64(q, i)))), lines["reduce_scatter Int64 Max"]);

        // The all-gather moves bits: block q of the result is rank q's input, exactly.
        var owners = Enumerable.Range(0, n).Select(i => (Index: i, Owner: i / b)).ToArray();
        AssertClose(owners.Select(x => (double)(float)ProbeData.Float(x.Owner, x.Index)).ToArray(), Doubles(lines["all_gather_in_place Float32"]), 0, "Float32 gather");
        AssertClose(owners.Select(x => ProbeData.Float(x.Owner, x.Index)).ToArray(), Doubles(lines["all_gather_in_place Float64"]), 0, "Float64 gather");
        AssertClose(owners.Select(x => (double)Bf16((float)ProbeData.Float(x.Owner, x.Index))).ToArray(), Doubles(lines["all_gather_in_place BFloat16"]), 1.0 / 256, "BFloat16 gather");
        Assert.Equal(ProbeData.Format(owners.Select(x => ProbeData.Int64(x.Owner, x.Index))), lines["all_gather_in_place Int64"]);
        Assert.Contains("multiple of the world size", lines["reduce_scatter uneven error"]);
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
