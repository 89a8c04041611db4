using Pretrain.Training.Metrics;

namespace Pretrain.Training.Tests;

/// <summary>Writes a tiny recipe into a temp folder and runs it; the shared fixture of the trainer tests.</summary>
internal static class TinyRun
{
    public static string Recipe(TempDir dir, string name = "tiny", double dropout = 0.0, int maxSteps = 8, string extra = "")
    {
        var path = dir[name + ".yaml"];
        File.WriteAllText(path, $$$"""
            name: {{{name}}}
            model: {arch: gpt2, max_seq_len: 16, embed_dim: 16, num_layers: 2, num_heads: 2, dropout: {{{dropout}}}}
            tokenizer: {kind: byte}
            data:
              train: {synthetic: {kind: text, rows: 120, shards: 2, rows_per_group: 20, seed: 3}}
              eval: {fraction: 0.1, max_batches: 2}
              prefetch: 4
            optimizer: {lr: 3.0e-3}
            schedule: {kind: cosine, warmup_steps: 2}
            train: {max_steps: {{{maxSteps}}}, seq_len: 16, micro_batch_size: 4, threads: 1, log_every: 1, eval_every: 4, checkpoint_every: 4, keep_last: 10, keep_best: 1}
            {{{extra}}}
            """);
        return path;
    }

    public static RunResult Run(string recipe, string runDir, IReadOnlyList<string>? sets = null, string? resume = null,
        ITrainingObserver? observer = null, CancellationToken cancel = default) =>
        RecipeRunner.Run(new RunOptions { RecipePath = recipe, RunDir = runDir, Overrides = sets ?? [], Resume = resume }, observer, cancel);
}

/// <summary>Cancels the run (as SIGTERM would) once a given step has been logged.</summary>
internal sealed class StopAfter(int step, CancellationTokenSource cts) : ITrainingObserver
{
    public void OnStart(long startStep, long maxSteps) { }
    public void OnStep(long s, IReadOnlyDictionary<string, double> metrics) { if (s >= step) cts.Cancel(); }
    public void OnEval(long s, IReadOnlyDictionary<string, double> metrics) { }
    public void OnMessage(string message) { }
}

/// <summary>Records the live tensor count after each logged step.</summary>
internal sealed class TensorCounter : ITrainingObserver
{
    public List<long> Counts { get; } = [];
    public void OnStart(long startStep, long maxSteps) { }
    public void OnStep(long s, IReadOnlyDictionary<string, double> metrics) => Counts.Add(TorchSharp.torch.Tensor.TotalCount);
    public void OnEval(long s, IReadOnlyDictionary<string, double> metrics) { }
    public void OnMessage(string message) { }
}
