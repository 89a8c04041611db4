using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Distributed.Probe;

/// <summary>
/// ZeRO-1's two collectives (reduce-scatter, in-place all-gather) on every dtype the trainer's buffers use; one line
/// per case, "name: values", which tests/Pretrain.Distributed.Tests/ZeroCollectivesTests.cs recomputes.
/// </summary>
public static class ZeroProbe
{
    /// <summary>Elements of each rank's block.</summary>
    public const int Block = 7;

    public static IEnumerable<string> Run(ICollectives world)
    {
        int rank = world.Rank, w = world.WorldSize, n = Block * w;
        foreach (var (dtype, op) in new[] { (ScalarType.Float32, ReduceOp.Sum), (ScalarType.Float64, ReduceOp.Avg), (ScalarType.BFloat16, ReduceOp.Sum), (ScalarType.Int64, ReduceOp.Max) })
        {
            using var input = Input(rank, n, dtype);
            using var output = torch.full(Block, -1, dtype);
            world.ReduceScatter(input, output, op);
            yield return $"reduce_scatter {dtype} {op}: {Format(output)}";
        }
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64, ScalarType.BFloat16, ScalarType.Int64 })
        {
            // Only this rank's block holds its values; the others hold -1 until the all-gather fills them.
            using var full = Input(rank, n, dtype);
            using var buffer = torch.full(n, -1, dtype);
            using (var mine = buffer.narrow(0, rank * Block, Block))
            using (var src = full.narrow(0, rank * Block, Block))
                mine.copy_(src);
            world.AllGatherInPlace(buffer);
            yield return $"all_gather_in_place {dtype}: {Format(buffer)}";
        }
        string error;
        try
        {
            using var odd = torch.ones(n + 1);
            using var into = torch.ones(Block);
            world.ReduceScatter(odd, into);
            error = "none";
        }
        catch (CollectiveException e)
        {
            error = e.Message;
        }
        yield return $"reduce_scatter uneven error: {error}";
    }

    /// <summary>Rank r's input: ProbeData.Float(r, i) (ProbeData.Int64 for int64) for i in [0, n).</summary>
    private static Tensor Input(int rank, int n, ScalarType dtype) => dtype == ScalarType.Int64
        ? torch.tensor(Enumerable.Range(0, n).Select(i => ProbeData.Int64(rank, i)).ToArray())
        : torch.tensor(Enumerable.Range(0, n).Select(i => ProbeData.Float(rank, i)).ToArray()).to_type(dtype);

    private static string Format(Tensor t) => t.dtype == ScalarType.Int64
        ? ProbeData.Format(t.data<long>().ToArray())
        : ProbeData.Format(t.to_type(ScalarType.Float64).data<double>().ToArray());
}
