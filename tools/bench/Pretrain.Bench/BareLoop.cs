using System.Diagnostics;
using Pretrain.Models.Text;
using static TorchSharp.torch;

namespace Pretrain.Bench;

/// <summary>
/// The reference loop: the same DecoderLm on pre-made random token batches, forward + cross-entropy + backward +
/// TorchSharp's own AdamW step + zero_grad in one dispose scope per step. No loader, metrics, clipping or checkpoints.
/// </summary>
public static class BareLoop
{
    /// <summary>Tokens/s of each timed window of <paramref name="window"/> steps, after one warm-up step.</summary>
    public static List<double> Measure(BenchShape shape, int windows, int window)
    {
        var config = shape.ModelConfig();
        var train = shape.Recipe.Train;
        var o = shape.Recipe.Optimizer;
        using var model = new DecoderLm(config);
        model.InitializeWeights(train.Seed);
        model.train();
        using var optimizer = optim.AdamW(model.parameters(), o.Lr, o.Betas[0], o.Betas[1], o.Eps, o.WeightDecay);

        // A few fixed batches, made once and kept outside the step scopes.
        const int distinct = 4;
        using var generator = new Generator(7, CPU);
        var inputs = new Tensor[distinct];
        var targets = new Tensor[distinct];
        for (int i = 0; i < distinct; i++)
        {
            inputs[i] = randint(config.VocabSize, [shape.MicroBatch, shape.SeqLen], ScalarType.Int64, generator: generator);
            targets[i] = randint(config.VocabSize, [shape.MicroBatch, shape.SeqLen], ScalarType.Int64, generator: generator);
        }

        int step = 0;
        void Step()
        {
            using var scope = NewDisposeScope();
            int k = step++ % distinct;
            var logits = model.call(inputs[k]);                           // (B, T, V)
            var loss = nn.functional.cross_entropy(logits.view(-1, config.VocabSize), targets[k].view(-1));
            loss.backward();
            optimizer.step();
            optimizer.zero_grad();
        }

        try
        {
            Step(); // warm-up: first-touch allocations and the optimizer's lazily created state
            var rates = new List<double>(windows);
            for (int w = 0; w < windows; w++)
            {
                long t0 = Stopwatch.GetTimestamp();
                for (int s = 0; s < window; s++) Step();
                rates.Add(window * shape.TokensPerStep / Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
            return rates;
        }
        finally
        {
            foreach (var t in inputs.Concat(targets)) t.Dispose();
        }
    }
}
