using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pretrain.Training.Optim;

/// <summary>
/// The per-parameter AdamW the trainer used before <see cref="AdamW"/> (flat buffers): one state slot and eight
/// small kernels per parameter. Kept as the reference the flat optimizer is tested bitwise against and as the
/// baseline of tools/bench's optimizer benchmark; the trainer does not use it.
/// </summary>
public sealed class PerParameterAdamW : IDisposable
{
    private readonly List<Slot> _slots = [];
    private readonly double _beta1;
    private readonly double _beta2;
    private readonly double _eps;
    private readonly double _weightDecay;

    /// <summary>Optimizer steps taken so far (bias correction uses it).</summary>
    public long StepCount { get; private set; }

    /// <summary>Learning rate of the next step; the schedule sets it.</summary>
    public double LearningRate { get; set; }

    public PerParameterAdamW(IEnumerable<(string Name, Parameter Param)> parameters, Func<string, Parameter, bool> decays,
        double lr, double beta1, double beta2, double eps, double weightDecay)
    {
        _beta1 = beta1;
        _beta2 = beta2;
        _eps = eps;
        _weightDecay = weightDecay;
        LearningRate = lr;
        foreach (var (name, p) in parameters)
        {
            if (!p.requires_grad) continue;   // frozen parameters get no state (LoRA)
            _slots.Add(new Slot(name, p, decays(name, p),
                zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope()));
        }
    }

    /// <summary>Names of the parameters this optimizer updates, in order.</summary>
    public IReadOnlyList<string> ParameterNames => _slots.Select(s => s.Name).ToList();

    /// <summary>Names of the parameters that receive weight decay.</summary>
    public IEnumerable<string> DecayedNames => _slots.Where(s => s.Decay).Select(s => s.Name);

    /// <summary>One update with the current <see cref="LearningRate"/>; parameters without a gradient are skipped.</summary>
    public void step()
    {
        StepCount++;
        double bc1 = 1 - Math.Pow(_beta1, StepCount);
        double bc2 = 1 - Math.Pow(_beta2, StepCount);
        double stepSize = LearningRate / bc1;
        double sqrtBc2 = Math.Sqrt(bc2);
        using var _ = no_grad();
        foreach (var s in _slots)
        {
            var g = s.Param.grad;
            if (g is null) continue;
            if (s.Decay && _weightDecay != 0) s.Param.mul_(1 - LearningRate * _weightDecay);
            s.ExpAvg.mul_(_beta1).add_(g, alpha: 1 - _beta1);
            s.ExpAvgSq.mul_(_beta2).addcmul_(g, g, value: 1 - _beta2);
            using var denom = s.ExpAvgSq.sqrt().div_(sqrtBc2).add_(_eps);
            s.Param.addcdiv_(s.ExpAvg, denom, value: -stepSize);
        }
    }

    /// <summary>Drops gradients (set to none, as PyTorch's default).</summary>
    public void zero_grad()
    {
        foreach (var s in _slots)
        {
            var g = s.Param.grad;
            if (g is null) continue;
            g.Dispose();
            s.Param.grad = null;
        }
    }

    /// <summary>State tensors keyed "{param}.exp_avg" / "{param}.exp_avg_sq" (views; copy before keeping).</summary>
    public Dictionary<string, Tensor> StateTensors() => AdamWState.Tensors(Moments());

    /// <summary>Restores state saved by <see cref="StateTensors"/>; every slot must be present with its shape.</summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor> state, long stepCount, string source)
    {
        AdamWState.Load(Moments(), state, source);
        StepCount = stepCount;
    }

    private List<(string Name, Tensor ExpAvg, Tensor ExpAvgSq)> Moments() => [.. _slots.Select(s => (s.Name, s.ExpAvg, s.ExpAvgSq))];

    public void Dispose()
    {
        foreach (var s in _slots)
        {
            s.ExpAvg.Dispose();
            s.ExpAvgSq.Dispose();
        }
        _slots.Clear();
    }

    private sealed record Slot(string Name, Parameter Param, bool Decay, Tensor ExpAvg, Tensor ExpAvgSq);
}
