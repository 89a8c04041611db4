using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pretrain.Training.Optim;

/// <summary>
/// The parameters of one (dtype, device) pair as views of four flat 1-D buffers: values, gradients, exp_avg and
/// exp_avg_sq. Decayed parameters come first, so weight decay is one multiply over the prefix [0, DecayEnd).
/// </summary>
internal sealed class FlatGroup : IDisposable
{
    public Tensor Values { get; }
    public Tensor Grads { get; }
    public Tensor ExpAvg { get; }
    public Tensor ExpAvgSq { get; }
    /// <summary>Elements of the decayed prefix.</summary>
    public long DecayEnd { get; }
    /// <summary>Slots in buffer order.</summary>
    public IReadOnlyList<FlatSlot> Slots { get; }

    /// <summary>Moves each parameter's values into the buffer (param.set_ to its view); gradients stay unbound.</summary>
    public FlatGroup(IReadOnlyList<(string Name, Parameter Param, bool Decay)> members)
    {
        var ordered = members.Where(m => m.Decay).Concat(members.Where(m => !m.Decay)).ToList();
        long total = ordered.Sum(m => m.Param.numel());
        DecayEnd = ordered.Where(m => m.Decay).Sum(m => m.Param.numel());
        var first = ordered[0].Param;
        Values = empty(total, first.dtype, first.device).DetachFromDisposeScope();
        Grads = zeros(total, first.dtype, first.device).DetachFromDisposeScope();
        ExpAvg = zeros(total, first.dtype, first.device).DetachFromDisposeScope();
        ExpAvgSq = zeros(total, first.dtype, first.device).DetachFromDisposeScope();
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
                View(Grads, offset, n, p.shape), View(ExpAvg, offset, n, p.shape), View(ExpAvgSq, offset, n, p.shape)));
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
