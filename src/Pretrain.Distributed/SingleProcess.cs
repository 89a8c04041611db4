using static TorchSharp.torch;

namespace Pretrain.Distributed;

/// <summary>World size 1, the default: every collective is the identity, and costs nothing.</summary>
public sealed class SingleProcess : ICollectives
{
    public static readonly SingleProcess Instance = new();

    public int Rank => 0;
    public int WorldSize => 1;
    public int LocalRank => 0;
    public string Backend => "single";

    public void AllReduce(Tensor tensor, ReduceOp op = ReduceOp.Sum) { }

    public void Broadcast(Tensor tensor, int root = 0) => CheckRoot(root);

    public Tensor AllGather(Tensor tensor) => tensor.unsqueeze(0).clone();

    public void ReduceScatter(Tensor input, Tensor output, ReduceOp op = ReduceOp.Sum)
    {
        Shards.CheckReduceScatter(input, output, 1);
        output.copy_(input);
    }

    public void AllGatherInPlace(Tensor buffer) => Shards.Block(buffer, 1, "all_gather_in_place");

    public byte[][] AllGatherBytes(ReadOnlySpan<byte> mine) => [mine.ToArray()];

    public byte[] BroadcastBytes(ReadOnlySpan<byte> data, int root = 0)
    {
        CheckRoot(root);
        return data.ToArray();
    }

    public void Barrier() { }

    public void Dispose() { }

    private static void CheckRoot(int root)
    {
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), root, "world size 1 has only rank 0");
    }
}
