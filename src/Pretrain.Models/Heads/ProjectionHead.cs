using Pretrain.Models.Sizing;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Heads;

/// <summary>
/// SimCLR's projection head g(h) = W2·ReLU(W1·h) (Chen et al. 2020, §2.1): a 2-layer MLP from the representation to
/// the space where the contrastive loss is applied (128 by default). State-dict keys: fc1.*, fc2.*.
/// </summary>
public sealed class ProjectionHead : Module<Tensor, Tensor>
{
    private readonly Linear fc1; // d -> hidden
    private readonly Linear fc2; // hidden -> out

    /// <param name="inDim">Representation width d.</param>
    /// <param name="hiddenDim">Hidden width; null means <paramref name="inDim"/> (SimCLR).</param>
    /// <param name="outDim">Projection width (SimCLR: 128).</param>
    public ProjectionHead(int inDim, int? hiddenDim = null, int outDim = 128) : base(nameof(ProjectionHead))
    {
        var hidden = hiddenDim ?? inDim;
        if (inDim <= 0 || hidden <= 0 || outDim <= 0)
            throw new ArgumentException($"A projection head needs positive sizes; got in {inDim}, hidden {hidden}, out {outDim}.");
        ModelMemory.EnsureFits($"The projection head ({inDim} → {hidden} → {outDim})", inDim, hidden, outDim);
        fc1 = Linear(inDim, hidden);
        fc2 = Linear(hidden, outDim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor h) // (B, d) -> (B, out)
        => fc2.call(functional.relu(fc1.call(h)));
}
