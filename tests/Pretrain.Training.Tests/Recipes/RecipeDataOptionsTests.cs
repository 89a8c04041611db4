using System.Text.Json;
using Pretrain.Training.Metrics;
using Pretrain.Training.Recipes;

namespace Pretrain.Training.Tests.Recipes;

/// <summary>data.on_bad_data, data.timeout_s and data.train.mix: binding, validation, round trip, and a mixed run's exact resume.</summary>
[Collection("torch")]
public sealed class RecipeDataOptionsTests
{
    private const string Mixed = """
        name: x
        data:
          train:
            mix:
              - {synthetic: {kind: text, rows: 60, shards: 1, rows_per_group: 20, seed: 1}, weight: 0.7}
              - {files: [a/*.parquet, b.parquet], weight: 0.3}
          on_bad_data: skip
          timeout_s: 2.5
        """;

    [Fact]
    public void Mix_and_bad_data_keys_bind_and_round_trip_through_the_saved_recipe()
    {
        var r = RecipeLoader.Parse(Mixed, "x.yaml");
        Assert.Equal("skip", r.Data.OnBadData);
        Assert.Equal(2.5, r.Data.TimeoutS);
        var mix = r.Data.Train.Mix!;
        Assert.Equal([0.7, 0.3], mix.Select(m => m.Weight));
        Assert.Equal(60, mix[0].Synthetic!.Rows);
        Assert.Equal(["a/*.parquet", "b.parquet"], mix[1].Files!);

        var again = RecipeLoader.Parse(RecipeLoader.ToYaml(r), "saved.yaml");
        Assert.Empty(RecipeLoader.ForbiddenResumeChanges(r, again));
        var changed = RecipeLoader.Parse(RecipeLoader.ToYaml(r), "saved.yaml", ["data.train.mix=[{files: [a/*.parquet], weight: 0.5}]"]);
        Assert.Contains("data.train.mix", RecipeLoader.ForbiddenResumeChanges(r, changed));

        var defaults = RecipeLoader.Parse("name: x\ndata:\n  train:\n    synthetic: {}\n", "x.yaml");
        Assert.Equal("fail", defaults.Data.OnBadData);
        Assert.Equal(300, defaults.Data.TimeoutS);
    }

    [Theory]
    [InlineData("data:\n  train: {mix: [{files: [a.parquet], weight: 0}]}\n", "x.yaml:3: data.train.mix[0].weight must be > 0, got 0")]
    [InlineData("data:\n  train: {mix: [{files: [a.parquet], synthetic: {}}]}\n", "data.train.mix[0] needs exactly one of files or synthetic; got both")]
    [InlineData("data:\n  train: {files: [a.parquet], mix: [{files: [b.parquet]}]}\n", "data.train needs exactly one of files or synthetic; got files and mix (or mix alone")]
    [InlineData("data:\n  train: {mix: [{files: [a.parquet]}]}\n  eval: {fraction: 0.1}\n", "data.eval.fraction cannot hold rows out of a data.train.mix")]
    [InlineData("data:\n  train: {synthetic: {}}\n  on_bad_data: ignore\n", "data.on_bad_data must be one of fail, skip; got 'ignore'")]
    [InlineData("data:\n  train: {synthetic: {}}\n  timeout_s: 0\n", "data.timeout_s must be > 0, got 0")]
    [InlineData("model: {arch: vit}\nobjective: {kind: mae}\ndata:\n  train: {mix: [{files: [a.parquet]}]}\n", "data.train.mix is supported for objective.kind clm and mlm")]
    public void Bad_values_name_the_key(string body, string expected)
    {
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse("name: x\n" + body, "x.yaml"));
        Assert.Contains(expected, e.Message);
    }

    private sealed class Messages : ITrainingObserver
    {
        public List<string> Lines { get; } = [];
        public void OnStart(long startStep, long maxSteps) { }
        public void OnStep(long step, IReadOnlyDictionary<string, double> metrics) { }
        public void OnEval(long step, IReadOnlyDictionary<string, double> metrics) { }
        public void OnMessage(string message) => Lines.Add(message);
    }

    [Fact]
    public void A_mixed_clm_run_resumed_mid_mix_matches_the_uninterrupted_run_and_logs_skip_counts()
    {
        using var dir = new TempDir();
        const string mix = """
            data:
              train:
                mix:
                  - {synthetic: {kind: text, rows: 80, shards: 2, rows_per_group: 20, seed: 3}, weight: 0.7}
                  - {synthetic: {kind: text, rows: 40, shards: 1, rows_per_group: 10, seed: 9}, weight: 0.3}
              eval: {synthetic: {kind: text, rows: 20, shards: 1, rows_per_group: 10, seed: 4}, max_batches: 1}
              prefetch: 4
              on_bad_data: skip
            """;
        string recipe = File.ReadAllText(TinyRun.Recipe(dir, "mix", maxSteps: 8)).Replace(
            "data:\n  train: {synthetic: {kind: text, rows: 120, shards: 2, rows_per_group: 20, seed: 3}}\n  eval: {fraction: 0.1, max_batches: 2}\n  prefetch: 4\n",
            mix + "\n", StringComparison.Ordinal);
        File.WriteAllText(dir["mix.yaml"], recipe);
        Assert.Contains("mix:", File.ReadAllText(dir["mix.yaml"]));

        var whole = TinyRun.Run(dir["mix.yaml"], dir["whole"]);
        using (var cts = new CancellationTokenSource())
            TinyRun.Run(dir["mix.yaml"], dir["split"], observer: new StopAfter(3, cts), cancel: cts.Token);   // as SIGTERM: checkpoint, stop
        var log = new Messages();
        var resumed = TinyRun.Run(dir["mix.yaml"], dir["split"], resume: "auto", observer: log);
        Assert.Contains(log.Lines, l => l.Contains("resuming from step-00000003", StringComparison.Ordinal));

        static List<double> Losses(string run) => MetricsLog.Read(Path.Combine(run, "metrics.jsonl"))
            .Where(r => r.ContainsKey("loss")).Select(r => r["loss"]!.GetValue<double>()).ToList();
        Assert.Equal(Losses(whole.RunDir), Losses(resumed.RunDir));

        var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(whole.RunDir, "checkpoints", "step-00000004", "trainer_state.json")));
        var cursor = state.RootElement.GetProperty("cursor");
        Assert.Equal(4 * 4, cursor.GetProperty("mix").GetProperty("position").GetInt64());   // 4 steps × 4 blocks
        Assert.Equal(2, cursor.GetProperty("mix").GetProperty("components").GetArrayLength());

        var row = MetricsLog.Read(Path.Combine(whole.RunDir, "metrics.jsonl")).First(r => r.ContainsKey("loss"));
        Assert.Equal(0, row["data_skipped_rows"]!.GetValue<double>());
        Assert.Equal(0, row["data_skipped_row_groups"]!.GetValue<double>());
        Assert.Equal(0.0, (double)whole.Summary["data_skipped_rows"]!);
    }
}
