using System.Text.Json.Nodes;
using Pretrain.Data.Datasets;
using Pretrain.Models.Weights;
using Pretrain.Training.Tasks;

namespace Pretrain.Training.Tests;

[Collection("torch")]
public sealed class ClassifyTaskTests
{
    private static string MlmBase(TempDir dir)
    {
        var path = dir["mlm.yaml"];
        File.WriteAllText(path, """
            name: mlm
            model: {arch: bert, max_seq_len: 16, embed_dim: 16, num_layers: 2, num_heads: 2, dropout: 0.0}
            objective: {kind: mlm}
            tokenizer: {kind: byte, eos_token: '[SEP]', special_tokens: ['[CLS]', '[MASK]', '[PAD]']}
            data:
              train: {synthetic: {kind: text, rows: 60, shards: 1, rows_per_group: 20, seed: 2}}
            train: {max_steps: 2, seq_len: 16, micro_batch_size: 4, threads: 1, log_every: 1, checkpoint_every: 2}
            """);
        TinyRun.Run(path, dir["base"]);
        return Path.Combine(dir["base"], "checkpoints", "step-00000002");
    }

    private static string Classify(TempDir dir, string name, string baseStep, bool lora)
    {
        var path = dir[name + ".yaml"];
        string lines = lora ? "lora: {rank: 2, alpha: 4, dropout: 0.1, targets: [q_proj, v_proj]}" : "";
        File.WriteAllText(path, $$$"""
            name: {{{name}}}
            init: {checkpoint: '{{{baseStep}}}'}
            model: {arch: bert, max_seq_len: 16}
            objective: {kind: classify, pooling: mean, num_classes: 2}
            data:
              train: {synthetic: {kind: labelled-text, rows: 80, shards: 2, rows_per_group: 10, seed: 4}}
              eval: {fraction: 0.2}
              prefetch: 4
            optimizer: {lr: 5.0e-3}
            schedule: {kind: constant, warmup_steps: 0}
            train: {max_steps: 6, seq_len: 16, micro_batch_size: 4, threads: 1, log_every: 1, eval_every: 3, checkpoint_every: 3, keep_last: 5}
            {{{lines}}}
            """);
        return path;
    }

    [Fact]
    public void Collate_wraps_in_cls_sep_pads_right_and_masks_padding()
    {
        var rows = new List<LabelledText> { new([5, 6, 7], 1, 0, 0, 0), new([9], 0, 0, 0, 1) };
        var (ids, mask, labels, t) = ClassifyBatch.Arrays(rows, cls: 101, sep: 102, pad: 0);
        Assert.Equal(5, t);
        Assert.Equal(new long[] { 101, 5, 6, 7, 102, 101, 9, 102, 0, 0 }, ids);
        Assert.Equal(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }, mask);
        Assert.Equal(new long[] { 1, 0 }, labels);
    }

    [Fact]
    public void Metrics_match_a_hand_computed_confusion()
    {
        var m = new ClassificationMetrics(3);
        (int T, int P)[] pairs = [(0, 0), (0, 0), (0, 1), (1, 1), (1, 2), (2, 2), (2, 2), (2, 0)];
        foreach (var (t, p) in pairs) m.Add(t, p);
        Assert.Equal(5.0 / 8, m.Accuracy, 12);
        // F1: class 0 tp2 fp1 fn1 → 4/6; class 1 tp1 fp1 fn1 → 2/4; class 2 tp2 fp1 fn1 → 4/6.
        Assert.Equal((4.0 / 6 + 0.5 + 4.0 / 6) / 3, m.MacroF1, 12);
        var d = m.ToDictionary("eval_");
        Assert.Equal(1, d["eval_confusion_2_0"]);
        Assert.Equal(2, d["eval_confusion_0_0"]);
        Assert.Equal(0, d["eval_confusion_0_2"]);
    }

    [Fact]
    public void Lora_classify_trains_only_adapters_and_head_saves_peft_and_resumes_exactly()
    {
        using var dir = new TempDir();
        var baseStep = MlmBase(dir);
        var recipe = Classify(dir, "lora", baseStep, lora: true);
        var straight = TinyRun.Run(recipe, dir["straight"]);
        using (var cts = new CancellationTokenSource())
            TinyRun.Run(recipe, dir["resumed"], observer: new StopAfter(4, cts), cancel: cts.Token);
        TinyRun.Run(recipe, dir["resumed"], resume: "auto");

        string Step(string run) => Path.Combine(dir[run], "checkpoints", "step-00000006");
        Assert.False(File.Exists(Path.Combine(Step("straight"), "model.safetensors")));
        var adapter = JsonNode.Parse(File.ReadAllText(Path.Combine(Step("straight"), "adapter_config.json")))!;
        Assert.Equal("SEQ_CLS", adapter["task_type"]!.GetValue<string>());
        Assert.Contains("classifier", adapter["modules_to_save"]!.AsArray().Select(n => n!.GetValue<string>()));
        var weights = Safetensors.Load(Path.Combine(Step("straight"), "adapter_model.safetensors")).Keys.ToList();
        Assert.Contains(weights, k => k.Contains("classifier", StringComparison.Ordinal));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Step("straight"), "config.json")))!;
        Assert.Equal(2, config["num_labels"]!.GetValue<int>());
        Assert.Equal("mean", config["pretrain"]!["pooling"]!.GetValue<string>());

        Assert.Equal(File.ReadAllBytes(Path.Combine(Step("straight"), "adapter_model.safetensors")),
                     File.ReadAllBytes(Path.Combine(Step("resumed"), "adapter_model.safetensors")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(Step("straight"), "optimizer.safetensors")),
                     File.ReadAllBytes(Path.Combine(Step("resumed"), "optimizer.safetensors")));

        var moments = Safetensors.Load(Path.Combine(Step("straight"), "optimizer.safetensors")).Keys.ToList();
        Assert.NotEmpty(moments);
        Assert.All(moments, k => Assert.True(k.Contains("lora_", StringComparison.Ordinal) || k.Contains("classifier.", StringComparison.Ordinal), k));
        Assert.Contains(moments, k => k.Contains("classifier.", StringComparison.Ordinal));

        var (model, _, seqLen) = ClassifierCheckpoint.Open(Step("straight"), TorchSharp.torch.CPU);
        Assert.Equal(16, seqLen);
        Assert.NotNull(model.Encoder.Lora);
        model.Dispose();
        Assert.Equal(6, straight.State.Step);
    }

    [Fact]
    public void Full_classify_saves_bert_for_sequence_classification()
    {
        using var dir = new TempDir();
        var baseStep = MlmBase(dir);
        TinyRun.Run(Classify(dir, "full", baseStep, lora: false), dir["full"], ["train.max_steps=3"]);
        var step = Path.Combine(dir["full"], "checkpoints", "step-00000003");
        Assert.False(File.Exists(Path.Combine(step, "adapter_config.json")));
        var keys = Safetensors.Load(Path.Combine(step, "model.safetensors")).Keys.ToList();
        Assert.Contains("classifier.weight", keys);
        Assert.Contains("bert.encoder.layer.0.attention.self.query.weight", keys);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(step, "config.json")))!;
        Assert.Equal("BertForSequenceClassification", config["architectures"]![0]!.GetValue<string>());
        var metrics = File.ReadAllLines(Path.Combine(dir["full"], "metrics.jsonl"));
        Assert.Contains(metrics, l => l.Contains("eval_macro_f1", StringComparison.Ordinal) && l.Contains("eval_confusion_1_0", StringComparison.Ordinal));
    }
}
