using Pretrain.Distributed;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pretrain.Training.Optim;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter 2019) over flat buffers. The trainable parameters of each (dtype, device) pair
/// become views of one contiguous buffer, and so do their gradients and the two moments; an update is a handful of
/// kernels over whole buffers (over cache-sized chunks of them on CPU), <see cref="zero_grad"/> is one fill per
/// buffer and <see cref="ClipGradNorm"/> one global norm with one multiply per buffer. Decoupled weight decay applies only to the parameters chosen for it (they lead each buffer, so decay is
/// one multiply over a prefix). State is still keyed by parameter name (optimizer.safetensors), the learning rate
/// is set per step by the schedule, and on CPU in fp32 every value is bitwise what <see cref="PerParameterAdamW"/>
/// computes. docs/optimizer.md describes the layout and the gradient-presence rule.
/// <para>ZeRO-1 (Rajbhandari et al. 2020, stage 1; docs/distributed.md "ZeRO-1"): built with the ranks to shard
/// over, each rank keeps the moments of its contiguous shard of every buffer only; the gradients are reduce-scattered
/// (<see cref="ReduceScatterGradients"/>), the norm is the all-reduce of the shards' squares, the update runs on the
/// shard, and the updated values are all-gathered in place. Checkpoints still hold every moment
/// (<see cref="GatherState"/>).</para>
/// </summary>
public sealed class AdamW : IDisposable
{
    /// <summary>PyTorch DistributedDataParallel's default bucket size (bucket_cap_mb = 25).</summary>
    public const long DefaultBucketBytes = 25L << 20;

    private readonly List<FlatGroup> _groups = [];
    private readonly List<FlatSlot> _slots = [];   // constructor order: ParameterNames, checkpoints
    private readonly double _beta1;
    private readonly double _beta2;
    private readonly double _eps;
    private readonly double _weightDecay;
    private readonly ICollectives _ranks;
    private List<(Tensor ExpAvg, Tensor ExpAvgSq)>? _gathered;   // ZeRO-1: every rank's moments, while a checkpoint is written

    /// <summary>Optimizer steps taken so far (bias correction uses it).</summary>
    public long StepCount { get; private set; }

    /// <summary>Learning rate of the next step; the schedule sets it.</summary>
    public double LearningRate { get; set; }

    /// <summary>
    /// The gradient buffers cut into buckets of about <c>bucketBytes</c> at parameter boundaries, per group in
    /// buffer order: the seam where a data-parallel all-reduce (issue 9) reduces gradients in place.
    /// </summary>
    public IReadOnlyList<GradientBucket> FlatGradients { get; }

    /// <summary>
    /// Moves the values of every trainable parameter into its group's flat buffer (the model keeps its
    /// <see cref="Parameter"/> objects; their storage changes). Frozen parameters get no slot (LoRA). Build the
    /// optimizer after the model is on its device and in its dtype, and never move the model afterwards.
    /// </summary>
    /// <param name="shardOver">ZeRO-1: the ranks whose shards the moments are split into (null or one rank: every moment here).</param>
    public AdamW(IEnumerable<(string Name, Parameter Param)> parameters, Func<string, Parameter, bool> decays,
        double lr, double beta1, double beta2, double eps, double weightDecay, long bucketBytes = DefaultBucketBytes,
        ICollectives? shardOver = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bucketBytes);
        _ranks = shardOver ?? SingleProcess.Instance;
        _beta1 = beta1;
        _beta2 = beta2;
        _eps = eps;
        _weightDecay = weightDecay;
        LearningRate = lr;
        var trainable = parameters.Where(p => p.Param.requires_grad)
            .Select(p => (p.Name, p.Param, Decay: decays(p.Name, p.Param))).ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _, _) in trainable)
        {
            if (!seen.Add(name)) throw new ArgumentException($"Parameter '{name}' is listed twice.", nameof(parameters));
        }
        foreach (var members in trainable.GroupBy(p => (p.Param.dtype, p.Param.device.ToString())))
            _groups.Add(new FlatGroup(members.ToList(), _ranks.WorldSize, _ranks.Rank));
        var byName = _groups.SelectMany(g => g.Slots).ToDictionary(s => s.Name, StringComparer.Ordinal);
        _slots.AddRange(trainable.Select(p => byName[p.Name]));
        FlatGradients = _groups.SelectMany(g => Buckets(g, bucketBytes)).ToList();
    }

    /// <summary>Names of the parameters this optimizer updates, in order.</summary>
    public IReadOnlyList<string> ParameterNames => _slots.Select(s => s.Name).ToList();

    /// <summary>Whether the moments are sharded over more than one rank (ZeRO-1).</summary>
    public bool Sharded => _ranks.WorldSize > 1;

    /// <summary>Bytes of optimizer state (both moments) this rank holds: all of them, or under ZeRO-1 its shard's.</summary>
    public long StateBytes => _groups.Sum(g => (g.ExpAvg.numel() + g.ExpAvgSq.numel()) * g.ExpAvg.element_size());

    /// <summary>Names of the parameters that receive weight decay.</summary>
    public IEnumerable<string> DecayedNames => _slots.Where(s => s.Decay).Select(s => s.Name);

    /// <summary>One update with the current <see cref="LearningRate"/>; parameters without a gradient are skipped.</summary>
    public void step()
    {
        Collect();
        StepCount++;
        double bc1 = 1 - Math.Pow(_beta1, StepCount);
        double bc2 = 1 - Math.Pow(_beta2, StepCount);
        double stepSize = LearningRate / bc1;
        double sqrtBc2 = Math.Sqrt(bc2);
        using var _ = no_grad();
        foreach (var group in _groups)
        {
            // Normally one run per group; a parameter without a gradient splits it so it is left untouched.
            // ZeRO-1: only the part of each run inside this rank's shard; the all-gather brings the rest.
            long shardEnd = group.ShardStart + group.ShardLength;
            foreach (var (runStart, runCount) in group.Runs(s => s.Present))
            {
                long offset = Math.Max(runStart, group.ShardStart), end = Math.Min(runStart + runCount, shardEnd);
                long chunk = ChunkElements(group.Values);
                for (long start = offset; start < end; start += chunk)
                    Update(group, start, Math.Min(chunk, end - start), stepSize, sqrtBc2);
            }
            if (Sharded) _ranks.AllGatherInPlace(group.Values);
        }
    }

    /// <summary>The AdamW update of elements [start, start + count) of a group.</summary>
    private void Update(FlatGroup group, long start, long count, double stepSize, double sqrtBc2)
    {
        long decayed = Math.Min(start + count, group.DecayEnd) - start;
        if (decayed > 0 && _weightDecay != 0)
        {
            using var d = group.Values.narrow(0, start, decayed);
            d.mul_(1 - LearningRate * _weightDecay);
        }
        using var p = group.Values.narrow(0, start, count);
        using var g = group.Grads.narrow(0, start, count);
        using var m = group.ExpAvg.narrow(0, start - group.ShardStart, count);   // the moments start at the shard
        using var v = group.ExpAvgSq.narrow(0, start - group.ShardStart, count);
        // The same kernels, in the same order and with the same scalars, as PerParameterAdamW.
        m.mul_(_beta1).add_(g, alpha: 1 - _beta1);
        v.mul_(_beta2).addcmul_(g, g, value: 1 - _beta2);
        using var denom = v.sqrt().div_(sqrtBc2).add_(_eps);
        p.addcdiv_(m, denom, value: -stepSize);
    }

    /// <summary>
    /// Elements per kernel sweep. On CPU the buffers are walked in chunks whose five arrays (values, gradients, two
    /// moments, the denominator) stay in cache across the update's kernels and whose temporaries are small enough
    /// to be reused by the allocator; a whole-buffer sweep streamed every kernel through memory and was slower than
    /// the per-parameter optimizer (docs/optimizer.md). On an accelerator one sweep per run: launches are the cost.
    /// </summary>
    private static long ChunkElements(Tensor buffer) => buffer.device_type == DeviceType.CPU ? CpuChunkElements : long.MaxValue;

    /// <summary>64 Ki elements: 5 × 256 KiB of fp32 per chunk.</summary>
    private const long CpuChunkElements = 1L << 16;

    /// <summary>1 Mi elements: the squares' temporary is 4 MiB of fp32.</summary>
    private const long CpuNormChunkElements = 1L << 20;

    /// <summary>
    /// Zeroes the gradient buffers (one fill each). Gradients stay bound to the buffers, so the next backward
    /// accumulates into them; a parameter that has never had a gradient keeps <c>.grad</c> null.
    /// </summary>
    public void zero_grad()
    {
        foreach (var group in _groups) group.Grads.zero_();
    }

    /// <summary>
    /// Scales the gradients so that their global 2-norm is at most <paramref name="maxNorm"/>, as
    /// <c>torch.nn.utils.clip_grad_norm_</c> (coefficient maxNorm / (norm + 1e-6), clamped at 1); returns the norm
    /// before clipping, 0 when no parameter has a gradient.
    /// </summary>
    public double ClipGradNorm(double maxNorm)
    {
        using var scope = NewDisposeScope();
        var norm = GradNorm();
        double value = norm.item<double>();
        ClipGradients(value, maxNorm);
        return value;
    }

    /// <summary>
    /// The global 2-norm of the gradients as a float64 scalar tensor on the buffers' device, without a device sync
    /// (the trainer reads it together with the loss); 0 when no parameter has a gradient. The norm is a sum of
    /// squares per bucket, per CPU chunk (libtorch's fp32 sum is a cascade sum; its fp32 norm kernel over a long
    /// buffer is not, and was 3e-5 relative off on 57k elements), so a temporary is one chunk or bucket, never a
    /// whole buffer. Parameters without a gradient hold zeros in the buffer, so the whole buffer's norm is the norm
    /// over those with one.
    /// </summary>
    public Tensor GradNorm()
    {
        Collect();
        var device = _groups.Count > 0 ? _groups[0].Grads.device : CPU;
        if (Sharded) return ShardedGradNorm(device);
        if (!_slots.Any(s => s.Present)) return zeros(1, ScalarType.Float64, device: device).reshape([]);
        var sums = new List<Tensor>(FlatGradients.Count);
        foreach (var bucket in FlatGradients)
        {
            long chunk = bucket.Gradients.device_type == DeviceType.CPU ? CpuNormChunkElements : long.MaxValue;
            for (long start = 0; start < bucket.Count; start += chunk)
            {
                using var g = bucket.Gradients.narrow(0, start, Math.Min(chunk, bucket.Count - start));
                using var wide = g.dtype is ScalarType.Float32 or ScalarType.Float64 ? null : g.to_type(ScalarType.Float32);
                using var squares = (wide ?? g).square();
                sums.Add(squares.sum().to_type(ScalarType.Float64).to(device));
            }
        }
        return (sums.Count == 1 ? sums[0] : stack(sums).sum()).sqrt();
    }

    /// <summary>
    /// ZeRO-1's norm: each rank's sum of squares over its shards (float64, chunked as <see cref="GradNorm"/>), summed
    /// over the ranks by one all-reduce, so every rank clips with, and checks finiteness of, the same global norm.
    /// The sums are cut at other places than the buckets' so the norm can differ from ZeRO-0's in its last bits.
    /// </summary>
    private Tensor ShardedGradNorm(Device device)
    {
        var sums = new List<Tensor> { zeros(1, ScalarType.Float64, device: device).reshape([]) };
        foreach (var group in _groups)
        {
            using var shard = group.Shard(group.Grads);
            long chunk = shard.device_type == DeviceType.CPU ? CpuNormChunkElements : long.MaxValue;
            for (long start = 0; start < shard.shape[0]; start += chunk)
            {
                using var g = shard.narrow(0, start, Math.Min(chunk, shard.shape[0] - start));
                using var wide = g.dtype is ScalarType.Float32 or ScalarType.Float64 ? null : g.to_type(ScalarType.Float32);
                using var squares = (wide ?? g).square();
                sums.Add(squares.sum().to_type(ScalarType.Float64).to(device));
            }
        }
        var total = stack(sums).sum().reshape(1);
        _ranks.AllReduce(total, ReduceOp.Sum);   // a NaN or ∞ on any rank reaches every rank: the step is skipped or stopped everywhere
        return total.reshape([]).sqrt();
    }

    /// <summary>
    /// ZeRO-1's gradient collective: each group's gradient buffer summed over the ranks with one reduce-scatter, this
    /// rank's shard written back into its place in the buffer (the rest of the buffer keeps this rank's own,
    /// unreduced gradients, which nothing reads). Called where ZeRO-0 all-reduces the buckets.
    /// </summary>
    public void ReduceScatterGradients()
    {
        Collect();
        using var _ = no_grad();
        foreach (var group in _groups)
        {
            using var mine = empty(group.ShardLength, group.Grads.dtype, group.Grads.device);
            _ranks.ReduceScatter(group.Grads, mine, ReduceOp.Sum);
            using var shard = group.Shard(group.Grads);
            shard.copy_(mine);
        }
    }

    /// <summary>Clips to <paramref name="maxNorm"/> given the gradients' <paramref name="norm"/> (from <see cref="GradNorm"/>); no-op when within it.</summary>
    public void ClipGradients(double norm, double maxNorm)
    {
        double coef = maxNorm / (norm + 1e-6);
        if (coef < 1.0) ScaleGradients(coef);
    }

    /// <summary>Multiplies every gradient by <paramref name="factor"/> (clipping; a loss scaler's unscale): one multiply per buffer.</summary>
    public void ScaleGradients(double factor)
    {
        Collect();
        using var scope = NewDisposeScope();
        using (no_grad())
        {
            // In the buffer's dtype: a float64 factor sends libtorch's multiply down its slow casting path (~10× here).
            foreach (var group in _groups)
            {
                // ZeRO-1: only the shard this rank updates holds reduced gradients; the rest is not read.
                using var grads = group.Shard(group.Grads);
                grads.mul_(tensor(factor, ScalarType.Float64).to(group.Grads.device).to_type(group.Grads.dtype));
            }
        }
    }

    /// <summary>
    /// State tensors keyed "{param}.exp_avg" / "{param}.exp_avg_sq" (views; copy before keeping). Under ZeRO-1 only
    /// inside <see cref="GatherState"/>'s scope, where they are views of the gathered moments.
    /// </summary>
    public Dictionary<string, Tensor> StateTensors() => AdamWState.Tensors(Moments());

    /// <summary>
    /// ZeRO-1: every rank calls it (a collective) before a checkpoint is written; until the result is disposed,
    /// <see cref="StateTensors"/> sees every rank's moments (two all-gathers per group into full-length buffers, so
    /// for that moment each rank holds the whole state once more). Without sharding it does nothing.
    /// </summary>
    public IDisposable GatherState()
    {
        if (!Sharded) return NoScope.Instance;
        using var _ = no_grad();
        _gathered = [];
        foreach (var group in _groups)
        {
            (Tensor, Tensor) full = (Gather(group, group.ExpAvg), Gather(group, group.ExpAvgSq));
            _gathered.Add(full);
        }
        return new GatheredScope(this);
    }

    /// <summary>One moment buffer of every rank: this rank's shard copied into its place, then all-gathered in place.</summary>
    private Tensor Gather(FlatGroup group, Tensor moments)
    {
        var full = empty(group.Values.shape[0], moments.dtype, moments.device).DetachFromDisposeScope();
        using (var mine = group.Shard(full)) mine.copy_(moments);
        _ranks.AllGatherInPlace(full);
        return full;
    }

    /// <summary>
    /// Restores state saved by <see cref="StateTensors"/> (at any world size, with or without ZeRO); every slot must
    /// be present with its shape. Under ZeRO-1 each rank copies the part of each moment inside its shard.
    /// </summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor> state, long stepCount, string source)
    {
        if (!Sharded) AdamWState.Load(Moments(), state, source);
        else LoadShards(state, source);
        StepCount = stepCount;
    }

    private void LoadShards(IReadOnlyDictionary<string, Tensor> state, string source)
    {
        AdamWState.Check(_slots.Select(s => (s.Name, s.Param.shape)), state, source);
        using var _ = no_grad();
        foreach (var group in _groups)
        {
            long shardEnd = group.ShardStart + group.ShardLength;
            foreach (var s in group.Slots)
            {
                long lo = Math.Max(s.Offset, group.ShardStart), hi = Math.Min(s.Offset + s.Count, shardEnd);
                if (lo >= hi) continue;
                foreach (var (key, moments) in new[] { (s.Name + ".exp_avg", group.ExpAvg), (s.Name + ".exp_avg_sq", group.ExpAvgSq) })
                {
                    using var src = state[key].reshape(-1).narrow(0, lo - s.Offset, hi - lo);
                    using var dst = moments.narrow(0, lo - group.ShardStart, hi - lo);
                    dst.copy_(src);
                }
            }
        }
    }

    private List<(string Name, Tensor ExpAvg, Tensor ExpAvgSq)> Moments()
    {
        if (!Sharded) return [.. _slots.Select(s => (s.Name, s.ExpAvg!, s.ExpAvgSq!))];
        if (_gathered is null) throw new InvalidOperationException("ZeRO-1 keeps only this rank's moments: call GatherState() on every rank before reading the state");
        var views = new List<(string, Tensor, Tensor)>(_slots.Count);
        var byGroup = _groups.Select((g, i) => (g, i)).SelectMany(x => x.g.Slots.Select(s => (s, x.i))).ToDictionary(x => x.s.Name, x => x.i, StringComparer.Ordinal);
        foreach (var s in _slots)
        {
            var (m, v) = _gathered[byGroup[s.Name]];
            views.Add((s.Name, m.narrow(0, s.Offset, s.Count).view(s.Param.shape), v.narrow(0, s.Offset, s.Count).view(s.Param.shape)));
        }
        return views;
    }

    private sealed class NoScope : IDisposable
    {
        public static readonly NoScope Instance = new();
        public void Dispose() { }
    }

    private sealed class GatheredScope(AdamW owner) : IDisposable
    {
        public void Dispose()
        {
            foreach (var (m, v) in owner._gathered ?? [])
            {
                m.Dispose();
                v.Dispose();
            }
            owner._gathered = null;
        }
    }

    public void Dispose()
    {
        foreach (var b in FlatGradients) b.Gradients.Dispose();
        foreach (var g in _groups) g.Dispose();
        _groups.Clear();
        _slots.Clear();
    }

    /// <summary>
    /// Marks which parameters have a gradient this step and binds gradients that autograd allocated outside the
    /// buffer (a parameter's first gradient, or one someone replaced) by copying them in and pointing <c>.grad</c>
    /// at the view; from then on backward accumulates in place into the buffer. Data parallel calls it before the
    /// bucket all-reduce, so the buckets hold this step's gradients.
    /// </summary>
    public void Collect()
    {
        using var _ = no_grad();
        foreach (var s in _slots)
        {
            using var g = s.Param.grad;
            if (g is null)
            {
                // Never had a gradient, or someone dropped it (set to none): skipped, as a per-parameter AdamW would.
                if (s.Bound) s.Grad.zero_();
                s.Bound = false;
                s.Present = false;
                continue;
            }
            if (!s.Bound || !GradientIdentity.SameMemory(g, s.Grad))
            {
                s.Grad.copy_(g);
                s.Param.grad = s.Grad;
                s.Bound = true;
            }
            s.Present = true;
        }
    }

    private static IEnumerable<GradientBucket> Buckets(FlatGroup group, long bucketBytes)
    {
        long elementBytes = group.Grads.ElementSize;
        var names = new List<string>();
        long start = 0, end = 0;
        foreach (var s in group.Slots)
        {
            if (names.Count > 0 && (end - start + s.Count) * elementBytes > bucketBytes)
            {
                yield return Bucket(group, start, end, names);
                names = [];
                start = end;
            }
            names.Add(s.Name);
            end = s.Offset + s.Count;
        }
        if (names.Count > 0) yield return Bucket(group, start, end, names);
    }

    private static GradientBucket Bucket(FlatGroup group, long start, long end, List<string> names) =>
        new(group.Grads.narrow(0, start, end - start).DetachFromDisposeScope(), start, end - start,
            (end - start) * group.Grads.ElementSize, names);
}
