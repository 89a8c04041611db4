using Pretrain.Data.Text;
using Pretrain.Models.Text;
using Pretrain.Training.Tasks;
using Pretrain.Training.Recipes;

namespace Pretrain.Bench;

/// <summary>
/// One benchmarked model: the recipe the trainer runs (no eval, no periodic checkpoints, synthetic data) and the
/// model config the bare loop builds from that same recipe, so both train the identical network.
/// </summary>
public sealed record BenchShape(string Name, Recipe Recipe, int Windows, int QuickWindows)
{
    /// <summary>The model config exactly as the recipe runner derives it (vocab from the tokenizer unless set).</summary>
    public DecoderLmConfig ModelConfig()
    {
        var t = Recipe.Tokenizer;
        return CausalLmTask.ModelConfig(Recipe.Model, TokenizerFactory.Create(t.Kind, t.Name, t.EosToken));
    }

    public int SeqLen => Recipe.Train.SeqLen;

    public int MicroBatch => Recipe.Train.MicroBatchSize;

    /// <summary>Tokens (targets) per optimizer step.</summary>
    public long TokensPerStep => (long)SeqLen * MicroBatch * Recipe.Train.GradAccumSteps;

    /// <summary>
    /// Training FLOPs per token (PaLM appendix B, FACTS.md): 6·N + 12·L·H·Q·T, N = parameters without the position
    /// table; 6·N is the forward+backward of every weight matmul, the second term attention's QKᵀ and AV.
    /// </summary>
    public static double FlopsPerToken(DecoderLmConfig c, long paramsNoPos, int seqLen) =>
        6.0 * paramsNoPos + 12.0 * c.NumLayers * c.NumHeads * c.HeadDim * seqLen;

    /// <summary>The quickstart recipe, and a GPT-2-small-shaped model (d 384, 6 layers, vocab 8192, seq 256) on the same data.</summary>
    public static IReadOnlyList<BenchShape> Defaults(Recipe quickstart, int threads, int window)
    {
        var q = Prepare(quickstart, threads, window);
        var small = q with
        {
            Name = "bench-gpt2-small",
            Model = q.Model with
            {
                Arch = "gpt2",
                VocabSize = 8192,
                MaxSeqLen = 256,
                EmbedDim = 384,
                NumLayers = 6,
                NumHeads = 6,
                Dropout = 0,
            },
            Train = q.Train with { SeqLen = 256, MicroBatchSize = 8, GradAccumSteps = 1 },
        };
        return
        [
            new BenchShape("quickstart", q with { Name = "bench-quickstart" }, Windows: 6, QuickWindows: 2),
            new BenchShape("gpt2-small", small, Windows: 3, QuickWindows: 1),
        ];
    }

    /// <summary>Drops eval and periodic checkpoints, pins threads, logs every <paramref name="window"/> steps.</summary>
    private static Recipe Prepare(Recipe r, int threads, int window) => r with
    {
        Data = r.Data with { Eval = null },
        Train = r.Train with
        {
            Threads = threads,
            LogEvery = window,
            EvalEvery = 1_000_000,
            CheckpointEvery = 1_000_000,
            KeepLast = 1,
            KeepBest = 0,
        },
    };
}
