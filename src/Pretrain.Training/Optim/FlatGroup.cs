using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pretrain.Training.Optim;

/// <summary>
/// The parameters of one (dtype, device) pair as views of four flat 1-D buffers: values, gradients, exp_avg and
/// exp_avg_sq. Decayed parameters come first, so weight decay is one multiply over the prefix [0, DecayEnd).
/// <para>ZeRO-1 (world &gt; 1): values and gradients are padded to a multiple of the world size
/// (<see cref="Pretrain.Distributed.Shards"/>) and this rank owns [ShardStart, ShardStart + ShardLength); the moments
/// exist only for that shard, and the slots have no moment views.</para>
/// </summary>
internal sealed class FlatGroup : IDisposable
{
    public Tensor Values { get; }
    public Tensor Grads { get; }
    public Tensor ExpAvg { get; }
    public Tensor ExpAvgSq { get; }
    /// <summary>Elements of the decayed prefix.</summary>
    public long DecayEnd { get; }
    /// <summary>Elements that belong to parameters (the buffers may be longer by ZeRO's padding).</summary>
    public long Length { get; }
    /// <summary>First element of this rank's shard (ZeRO-1; 0 otherwise).</summary>
    public long ShardStart { get; }
    /// <summary>Elements of this rank's shard, padding included (the whole buffer without ZeRO); the moments' length.</summary>
    public long ShardLength { get; }
    /// <summary>Whether the moments cover only a shard (ZeRO-1 over more than one rank).</summary>
    public bool Sharded { get; }
    /// <summary>Slots in buffer order.</summary>
    public IReadOnlyList<FlatSlot> Slots { get; }

    /// <summary>Moves each parameter's values into the buffer (param.set_ to its view); gradients stay unbound.</summary>
    public FlatGroup(IReadOnlyList<(string Name, Parameter Param, bool Decay)> members, int world = 1, int rank = 0)
    {
        var ordered = members.Where(m => m.Decay).Concat(members.Where(m => !m.Decay)).ToList();
        long total = ordered.Sum(m => m.Param.numel());
        long padded = Pretrain.Distributed.Shards.PaddedLength(total, world);
        DecayEnd = ordered.Where(m => m.Decay).Sum(m => m.Param.numel());
        (Length, Sharded, ShardLength) = (total, world > 1, padded / world);
        ShardStart = rank * ShardLength;
        var first = ordered[0].Param;
        Values = (padded == total ? empty(padded, first.dtype, first.device) : zeros(padded, first.dtype, first.device)).DetachFromDisposeScope();
        Grads = zeros(padded, first.dtype, first.device).DetachFromDisposeScope();
        ExpAvg = zeros(ShardLength, first.dtype, first.device).DetachFromDisposeScope();
        ExpAvgSq = zeros(ShardLength, first.dtype, first.device).DetachFromDisposeScope();
        var slots = new List<FlatSlot>(ordered.Count);
        long offset = 0;
        using var _ = no_grad();
        foreach (var (name, p, decay) in ordered)
        {
            long n = p.numel();
            using (var values = View(Values, offset, n, p.shape))
            {
                values.copy_(p);
                // The parameter now aliases the buffer: same TensorImpl (autograd leaf, requires_grad, every
                // reference the model holds), new storage. Its old storage is freed with the last reference.
                p.set_(values);   // returns p itself
            }
            slots.Add(new FlatSlot(name, p, decay, offset, n,
                View(Grads, offset, n, p.shape), Sharded ? null : View(ExpAvg, offset, n, p.shape), Sharded ? null : View(ExpAvgSq, offset, n, p.shape)));
            offset += n;
        }
        Slots = slots;
    }

    /// <summary>(offset, count) of the maximal runs of consecutive slots for which <paramref name="present"/> holds.</summary>
    public IEnumerable<(long Offset, long Count)> Runs(Func<FlatSlot, bool> present)
    {
        long start = -1, end = -1;
        foreach (var s in Slots)
        {
            if (!present(s)) continue;
            if (s.Offset != end)
            {
                if (start >= 0) yield return (start, end - start);
                start = s.Offset;
            }
            end = s.Offset + s.Count;
        }
        if (start >= 0) yield return (start, end - start);
    }

    /// <summary>This rank's shard of a buffer as long as the values (a view).</summary>
    public Tensor Shard(Tensor flat) => flat.narrow(0, ShardStart, ShardLength);

    public void Dispose()
    {
        foreach (var s in Slots) s.Dispose();
        Values.Dispose();
        Grads.Dispose();
        ExpAvg.Dispose();
        ExpAvgSq.Dispose();
    }

    private static Tensor View(Tensor flat, long offset, long count, long[] shape)
    {
        using var run = flat.narrow(0, offset, count);
        return run.view(shape).DetachFromDisposeScope();
    }
}
