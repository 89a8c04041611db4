using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pretrain.Training.Optim;

/// <summary>One parameter's place in a <see cref="FlatGroup"/>: its element range and its views of the buffers.</summary>
internal sealed class FlatSlot(string name, Parameter param, bool decay, long offset, long count, Tensor grad, Tensor? expAvg, Tensor? expAvgSq)
    : IDisposable
{
    public string Name { get; } = name;
    public Parameter Param { get; } = param;
    public bool Decay { get; } = decay;
    public long Offset { get; } = offset;
    public long Count { get; } = count;
    /// <summary>The parameter's gradient as a view of the group's gradient buffer.</summary>
    public Tensor Grad { get; } = grad;
    /// <summary>The parameter's moments as views of the group's; null under ZeRO-1, where a rank holds only its shard's.</summary>
    public Tensor? ExpAvg { get; } = expAvg;
    public Tensor? ExpAvgSq { get; } = expAvgSq;
    /// <summary>Whether <c>Param.grad</c> is <see cref="Grad"/> (backward accumulates into the buffer).</summary>
    public bool Bound { get; set; }
    /// <summary>Whether the parameter has a gradient in the current step.</summary>
    public bool Present { get; set; }

    public void Dispose()
    {
        Grad.Dispose();
        ExpAvg?.Dispose();
        ExpAvgSq?.Dispose();
    }
}
