using Pretrain.Models.Weights;
using Pretrain.Training.Metrics;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests;

[Collection("torch")]
public sealed class TrainerTests
{
    private static string StepDir(string runDir, long step) => Path.Combine(runDir, "checkpoints", $"step-{step:D8}");

    /// <summary>Loss rows of metrics.jsonl without the timing columns (which differ run to run).</summary>
    private static List<string> LossCurve(string runDir) =>
        MetricsLog.Read(Path.Combine(runDir, "metrics.jsonl"))
            .Select(r => string.Join(",", r.Where(kv => kv.Key is not ("tokens_per_s" or "tflops" or "mfu")).Select(kv => $"{kv.Key}={kv.Value}")))
            .ToList();

    [Fact]
    public void Resume_after_preemption_is_bitwise_identical_to_an_uninterrupted_run()
    {
        using var dir = new TempDir();
        var recipe = TinyRun.Recipe(dir, dropout: 0.1, maxSteps: 10);
        TinyRun.Run(recipe, dir["straight"]);

        using (var cts = new CancellationTokenSource())
        {
            var stopped = TinyRun.Run(recipe, dir["resumed"], observer: new StopAfter(6, cts), cancel: cts.Token);
            Assert.Equal(6, stopped.State.Step);                      // not a checkpoint_every multiple: saved on stop
        }
        var resumed = TinyRun.Run(recipe, dir["resumed"], resume: "auto");
        Assert.Equal(10, resumed.State.Step);

        Assert.Equal(File.ReadAllBytes(Path.Combine(StepDir(dir["straight"], 10), "model.safetensors")),
                     File.ReadAllBytes(Path.Combine(StepDir(dir["resumed"], 10), "model.safetensors")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(StepDir(dir["straight"], 10), "optimizer.safetensors")),
                     File.ReadAllBytes(Path.Combine(StepDir(dir["resumed"], 10), "optimizer.safetensors")));
        Assert.Equal(LossCurve(dir["straight"]), LossCurve(dir["resumed"]));
    }

    [Fact]
    public void Resume_ignores_a_half_written_checkpoint()
    {
        using var dir = new TempDir();
        var recipe = TinyRun.Recipe(dir, maxSteps: 8);
        TinyRun.Run(recipe, dir["a"]);
        using (var cts = new CancellationTokenSource())
            TinyRun.Run(recipe, dir["b"], observer: new StopAfter(4, cts), cancel: cts.Token);
        // A crash while writing step 6: a partial folder with a truncated file.
        var partial = Path.Combine(dir["b"], "checkpoints", "step-00000006.tmp");
        Directory.CreateDirectory(partial);
        File.WriteAllBytes(Path.Combine(partial, "model.safetensors"), [1, 2, 3]);

        var resumed = TinyRun.Run(recipe, dir["b"], resume: "auto");
        Assert.Equal(8, resumed.State.Step);
        Assert.False(Directory.Exists(partial), "the stale .tmp folder should be cleaned up by the next save");
        Assert.Equal(File.ReadAllBytes(Path.Combine(StepDir(dir["a"], 8), "model.safetensors")),
                     File.ReadAllBytes(Path.Combine(StepDir(dir["b"], 8), "model.safetensors")));
    }

    [Fact]
    public void Accumulating_four_micro_batches_of_two_equals_one_batch_of_eight()
    {
        using var dir = new TempDir();
        var recipe = TinyRun.Recipe(dir, maxSteps: 2);
        TinyRun.Run(recipe, dir["accum"], ["train.micro_batch_size=2", "train.grad_accum_steps=4"]);
        TinyRun.Run(recipe, dir["whole"], ["train.micro_batch_size=8", "train.grad_accum_steps=1"]);
        var a = Safetensors.Load(Path.Combine(StepDir(dir["accum"], 2), "model.safetensors"));
        var b = Safetensors.Load(Path.Combine(StepDir(dir["whole"], 2), "model.safetensors"));
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (k, t) in a)
            Assert.True(t.allclose(b[k], rtol: 1e-4, atol: 1e-6), $"{k} differs: max |Δ| = {(t - b[k]).abs().max().item<float>()}");
        var lossA = MetricsLog.Read(Path.Combine(dir["accum"], "metrics.jsonl")).First(r => r.ContainsKey("loss"))["loss"]!.GetValue<double>();
        var lossB = MetricsLog.Read(Path.Combine(dir["whole"], "metrics.jsonl")).First(r => r.ContainsKey("loss"))["loss"]!.GetValue<double>();
        Assert.Equal(lossB, lossA, 5);
    }

    [Fact]
    public void Live_tensor_count_stays_flat_over_120_steps()
    {
        using var dir = new TempDir();
        var recipe = TinyRun.Recipe(dir, maxSteps: 120, extra: "");
        var counter = new TensorCounter();
        TinyRun.Run(recipe, dir["run"], ["train.eval_every=40", "train.checkpoint_every=60"], observer: counter);
        Assert.Equal(120, counter.Counts.Count);
        // After warm-up (first step, first eval and checkpoint), every step ends with the same number of live tensors.
        var settled = counter.Counts.Skip(45).ToList();
        Assert.True(settled.Max() == settled.Min(), $"live tensors vary from {settled.Min()} to {settled.Max()}");
        Assert.Equal(counter.Counts[10], counter.Counts[^1]);
    }

    [Fact]
    public void A_run_folder_with_checkpoints_needs_resume()
    {
        using var dir = new TempDir();
        var recipe = TinyRun.Recipe(dir, maxSteps: 4);
        TinyRun.Run(recipe, dir["run"]);
        var e = Assert.Throws<Pretrain.Training.Recipes.RecipeException>(() => TinyRun.Run(recipe, dir["run"]));
        Assert.Contains("--resume auto", e.Message);
    }

    [Fact]
    public void Resume_refuses_a_change_that_alters_finished_work_but_allows_more_steps()
    {
        using var dir = new TempDir();
        var recipe = TinyRun.Recipe(dir, maxSteps: 4);
        TinyRun.Run(recipe, dir["run"]);
        var e = Assert.Throws<Pretrain.Training.Recipes.RecipeException>(() => TinyRun.Run(recipe, dir["run"], ["optimizer.lr=0.1"], resume: "auto"));
        Assert.Contains("optimizer.lr", e.Message);
        var more = TinyRun.Run(recipe, dir["run"], ["train.max_steps=6"], resume: "auto");
        Assert.Equal(6, more.State.Step);
    }

    [Fact]
    public void Checkpoint_holds_the_hugging_face_gpt2_layout_and_a_manifest()
    {
        using var dir = new TempDir();
        TinyRun.Run(TinyRun.Recipe(dir, maxSteps: 4), dir["run"]);
        var step = StepDir(dir["run"], 4);
        foreach (var f in new[] { "model.safetensors", "config.json", "optimizer.safetensors", "optimizer.json", "trainer_state.json", "recipe.yaml", "manifest.json" })
            Assert.True(File.Exists(Path.Combine(step, f)), $"{f} missing");
        Assert.True(Directory.Exists(Path.Combine(step, "tokenizer")));
        Assert.Equal("step-00000004", File.ReadAllText(Path.Combine(dir["run"], "checkpoints", "latest")).Trim());
        var weights = Safetensors.Load(Path.Combine(step, "model.safetensors"));
        Assert.Equal(new long[] { 16, 48 }, weights["transformer.h.0.attn.c_attn.weight"].shape);   // Conv1D [in, 3·out]
        Assert.False(weights.ContainsKey("lm_head.weight"));                                      // tied
        Assert.True(File.Exists(Path.Combine(dir["run"], "summary.json")));
        Assert.True(Directory.EnumerateFiles(Path.Combine(dir["run"], "tensorboard"), "events.out.tfevents*").Any());
    }
}

[Collection("torch")]
public sealed class PreTokenizedDataTests
{
    public sealed class Row
    {
        public int[] input_ids { get; set; } = [];
    }

    [Fact]
    public async Task A_recipe_trains_on_an_input_ids_column()
    {
        using var dir = new TempDir();
        var rng = new Random(5);
        var rows = Enumerable.Range(0, 64).Select(_ => new Row { input_ids = Enumerable.Range(0, 40).Select(_ => rng.Next(0, 256)).ToArray() }).ToList();
        await using (var f = File.Create(dir["ids.parquet"]))
            await Parquet.Serialization.ParquetSerializer.SerializeAsync(rows, f);
        var recipe = TinyRun.Recipe(dir, maxSteps: 3);
        var result = TinyRun.Run(recipe, dir["run"], [$"data.train={{files: ['{dir["ids.parquet"]}'], token_column: input_ids}}", "data.eval.fraction=0.2"]);
        Assert.Equal(3, result.State.Step);
        // 3 steps × 4 blocks × 16 targets, all from the id column (40 ids + EOS per row).
        Assert.Equal(3 * 4 * 16, result.State.TokensSeen);
    }
}
