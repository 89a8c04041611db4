using System.Diagnostics;
using Pretrain.Models.Text;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pretrain.Bench;

/// <summary>
/// The reference loop: the same DecoderLm on pre-made random token batches, forward + cross-entropy + backward +
/// TorchSharp's own AdamW step + zero_grad in one dispose scope per step. No loader, metrics, clipping or checkpoints.
/// </summary>
public sealed class BareLoop : IDisposable
{
    private const int Distinct = 4;     // a few fixed batches, made once and kept outside the step scopes
    private readonly BenchShape _shape;
    private readonly DecoderLm _model;
    private readonly optim.Optimizer _optimizer;
    private readonly Tensor[] _inputs = new Tensor[Distinct];
    private readonly Tensor[] _targets = new Tensor[Distinct];
    private int _step;

    public BareLoop(BenchShape shape)
    {
        _shape = shape;
        var config = shape.ModelConfig();
        var o = shape.Recipe.Optimizer;
        _model = new DecoderLm(config);
        _model.InitializeWeights(shape.Recipe.Train.Seed);
        _model.train();
        _optimizer = optim.AdamW(_model.parameters(), o.Lr, o.Betas[0], o.Betas[1], o.Eps, o.WeightDecay);
        using var generator = new Generator(7, CPU);
        for (int i = 0; i < Distinct; i++)
        {
            _inputs[i] = randint(config.VocabSize, [shape.MicroBatch, shape.SeqLen], ScalarType.Int64, generator: generator);
            _targets[i] = randint(config.VocabSize, [shape.MicroBatch, shape.SeqLen], ScalarType.Int64, generator: generator);
        }
    }

    /// <summary>One optimizer step on the next pre-made batch.</summary>
    public void Step()
    {
        using var scope = NewDisposeScope();
        int k = _step++ % Distinct;
        var logits = _model.call(_inputs[k]);                                   // (B, T, V)
        var loss = nn.functional.cross_entropy(logits.view(-1, logits.shape[^1]), _targets[k].view(-1));
        loss.backward();
        _optimizer.step();
        _optimizer.zero_grad();
    }

    /// <summary>Tokens/s over <paramref name="steps"/> consecutive steps.</summary>
    public double Window(int steps)
    {
        long t0 = Stopwatch.GetTimestamp();
        for (int s = 0; s < steps; s++) Step();
        return steps * _shape.TokensPerStep / Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    public void Dispose()
    {
        foreach (var t in _inputs.Concat(_targets)) t?.Dispose();
        _optimizer.Dispose();
        _model.Dispose();
    }
}
