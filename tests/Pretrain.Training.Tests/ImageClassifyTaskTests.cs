using Pretrain.Data.Datasets;
using Pretrain.Models.Weights;
using Pretrain.Training.Recipes;
using Pretrain.Training.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests;

/// <summary>classify on model.arch vit: learning, exact encoder init from MAE, LoRA invariants, recipe checks.</summary>
[Collection("torch")]
public sealed class ImageClassifyTaskTests
{
    private static string Recipe(TempDir dir, string name, int maxSteps, string extra = "", double lr = 3e-3, int rows = 64)
    {
        var path = dir[name + ".yaml"];
        File.WriteAllText(path, $$$"""
            name: {{{name}}}
            model: {arch: vit, image_size: 28, patch_size: 7, channels: 1, embed_dim: 16, num_layers: 1, num_heads: 2, global_pool: mean}
            objective: {kind: classify, num_classes: 4}
            data:
              train: {synthetic: {kind: images, rows: {{{rows}}}, shards: 2, rows_per_group: 16, seed: 1}}
              eval: {fraction: 0.25}
              augment: {crop_scale: [1.0, 1.0], horizontal_flip: 0.0}
              prefetch: 4
            optimizer: {lr: {{{lr}}}, weight_decay: 0.0}
            schedule: {kind: constant, warmup_steps: 0}
            train: {max_steps: {{{maxSteps}}}, micro_batch_size: 8, threads: 1, log_every: 1, eval_every: 100, checkpoint_every: 100, keep_last: 10}
            {{{extra}}}
            """);
        return path;
    }

    private static ImageClassifyTask Build(string recipePath, string runDir, params string[] sets)
    {
        var recipe = RecipeLoader.LoadFile(recipePath, sets);
        return Assert.IsType<ImageClassifyTask>(TrainingTasks.Create(new TaskContext(recipe, runDir, CPU, null)));
    }

    private static string MaeCheckpoint(TempDir dir)
    {
        var run = TinyRun.Run(VisionRun.Recipe(dir, "mae", maxSteps: 4), dir["mae-run"]);
        return run.LastCheckpoint!;
    }

    [Fact]
    public void Vit_classifier_learns_synthetic_shapes_in_a_few_steps()
    {
        using var dir = new TempDir();
        var run = TinyRun.Run(Recipe(dir, "scratch", maxSteps: 60, lr: 3e-3, rows: 240), dir["run"]);
        var rows = Metrics.MetricsLog.Read(Path.Combine(run.RunDir, "metrics.jsonl"));
        var evals = rows.Where(r => r.ContainsKey("eval_accuracy")).ToList();
        double first = evals[0]["eval_accuracy"]!.GetValue<double>(), last = evals[^1]["eval_accuracy"]!.GetValue<double>();
        var losses = rows.Where(r => r.ContainsKey("loss")).Select(r => r["loss"]!.GetValue<double>()).ToList();
        Assert.True(last >= 0.6 && last > first + 0.2, $"eval accuracy {first:P0} → {last:P0} (4 classes, chance 25%)");
        Assert.True(losses.TakeLast(5).Average() < losses.Take(5).Average() - 0.3, $"loss {losses.Take(5).Average():F3} → {losses.TakeLast(5).Average():F3}");
        Assert.Equal("eval_accuracy", run.State.BestMetricName);
        Assert.Equal("max", run.State.BestMetricMode);
    }

    [Fact]
    public void Init_from_an_mae_checkpoint_loads_exactly_the_encoder_weights_and_notes_the_decoder()
    {
        using var dir = new TempDir();
        var mae = MaeCheckpoint(dir);
        using var task = Build(Recipe(dir, "full", 1), dir["cls"], $"init.checkpoint={mae}");
        var saved = Safetensors.Load(Path.Combine(mae, "model.safetensors"));
        var encoder = HfVitLayout.ToHf(task.Classifier.Encoder);        // vit.* names, as the MAE file
        Assert.NotEmpty(encoder);
        Assert.Equal(saved.Keys.Where(k => !k.StartsWith("decoder.", StringComparison.Ordinal)).Order(), encoder.Keys.Order());
        foreach (var (name, t) in encoder)
            Assert.True(t.eq(saved[name]).all().item<bool>(), $"{name} differs from the MAE checkpoint");
        Assert.Contains("no missing or unexpected keys", task.Describe);
        Assert.Contains("MAE decoder tensors (decoder.*) ignored", task.Describe);

        // A file missing an encoder tensor is refused with the name, nothing loaded.
        var broken = dir["broken"];
        Directory.CreateDirectory(broken);
        File.Copy(Path.Combine(mae, "config.json"), Path.Combine(broken, "config.json"));
        Safetensors.Save(Path.Combine(broken, "model.safetensors"),
            saved.Where(kv => kv.Key != "vit.encoder.layer.0.attention.attention.query.weight").ToDictionary(kv => kv.Key, kv => kv.Value));
        Pretrain.Training.Checkpointing.CheckpointManifest.Write(broken, 4, null);       // a valid folder whose weights lack a tensor
        var e = Assert.Throws<RecipeException>(() => Build(Recipe(dir, "full2", 1), dir["cls2"], $"init.checkpoint={broken}"));
        Assert.Contains("missing: encoder.layer.0.attention.attention.query.weight", e.Message);
    }

    [Fact]
    public void Lora_zero_init_keeps_the_base_logits_and_only_adapters_head_and_norms_get_gradients()
    {
        using var dir = new TempDir();
        var mae = MaeCheckpoint(dir);
        using var full = Build(Recipe(dir, "full", 1), dir["a"], $"init.checkpoint={mae}");
        using var lora = Build(Recipe(dir, "lora", 1, "lora: {rank: 4, alpha: 8, dropout: 0.0, targets: [query, value], trainable: ['*norm*']}"),
            dir["b"], $"init.checkpoint={mae}");
        var batch = lora.NextStep(1, 8)[0];
        using (NewDisposeScope())
        {
            var x = ImageData.Collate((List<ImageSample>)batch.Samples, CPU);
            full.Model.eval();
            lora.Model.eval();
            using (no_grad())
                Assert.True(lora.Classifier.call(x).allclose(full.Classifier.call(x), 1e-6, 1e-6), "B = 0: LoRA logits equal the base's");
            lora.Model.train();
            lora.LossSum(batch).backward();
        }
        var trained = new List<string>();
        foreach (var (name, p) in lora.Model.named_parameters())
        {
            bool expected = name.Contains("lora_", StringComparison.Ordinal) || name.StartsWith("classifier.", StringComparison.Ordinal) || name.Contains("norm", StringComparison.Ordinal);
            Assert.True(expected == p.requires_grad, $"{name}: requires_grad {p.requires_grad}");
            Assert.True(expected == (p.grad is not null), $"{name}: grad {(p.grad is null ? "none" : "present")}");
            if (expected) trained.Add(name);
        }
        Assert.Contains("encoder.blocks.0.attn.q_proj.lora_a", trained);
        Assert.Contains("encoder.blocks.0.attn.v_proj.lora_b", trained);
        Assert.DoesNotContain(trained, n => n.Contains("k_proj", StringComparison.Ordinal));
        Assert.Contains(trained, n => n.StartsWith("encoder.norm.", StringComparison.Ordinal));
    }

    [Fact]
    public void Lora_run_saves_an_adapter_only_checkpoint_and_resume_is_exact()
    {
        using var dir = new TempDir();
        var mae = MaeCheckpoint(dir);
        var recipe = Recipe(dir, "lora", 4, "lora: {rank: 4, alpha: 8, dropout: 0.0, targets: [q_proj, v_proj]}");
        var sets = new[] { $"init.checkpoint={mae}", "train.checkpoint_every=2" };
        var once = TinyRun.Run(recipe, dir["once"], sets);
        var step = Path.Combine(dir["once"], "checkpoints", "step-00000004");
        Assert.True(File.Exists(Path.Combine(step, "adapter_model.safetensors")));
        Assert.False(File.Exists(Path.Combine(step, "model.safetensors")));
        var halted = TinyRun.Run(recipe, dir["twice"], [.. sets, "train.max_steps=2"]);
        var resumed = TinyRun.Run(recipe, dir["twice"], [.. sets, "train.max_steps=4"], resume: "auto");
        var a = Safetensors.Load(Path.Combine(step, "adapter_model.safetensors"));
        var b = Safetensors.Load(Path.Combine(dir["twice"], "checkpoints", "step-00000004", "adapter_model.safetensors"));
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (k, t) in a) Assert.True(t.shape.SequenceEqual(b[k].shape) && t.eq(b[k]).all().item<bool>(), $"{k} differs after resume");
        Assert.Equal(once.State.LastEval!["eval_accuracy"], resumed.State.LastEval!["eval_accuracy"]);
    }

    [Theory]
    [InlineData("data:\n  train: {synthetic: {kind: images}, label_fraction: 0}\n", "data.train.label_fraction must be in (0, 1], got 0")]
    [InlineData("data:\n  train: {synthetic: {kind: images}, label_fraction: 1.5}\n", "data.train.label_fraction must be in (0, 1], got 1.5")]
    [InlineData("data:\n  train: {synthetic: {kind: images}}\n  eval: {fraction: 0.2, label_fraction: 0.5}\n", "data.eval.label_fraction applies to data.train only")]
    [InlineData("train: {best_mode: up}\n", "train.best_mode must be one of min, max")]
    [InlineData("train: {best_metric: eval_foo}\n", "train.best_mode is needed for train.best_metric 'eval_foo'")]
    [InlineData("train: {best_metric: accuracy}\n", "train.best_metric must name an eval metric")]
    [InlineData("lora: {targets: [quer]}\ninit: {checkpoint: x}\n", "'quer' is not a projection name")]
    public void Recipe_checks_name_the_key(string yaml, string expected)
    {
        string baseYaml = "name: x\nmodel: {arch: vit}\nobjective: {kind: classify}\n" + (yaml.StartsWith("data:", StringComparison.Ordinal) ? "" : "data:\n  train: {synthetic: {kind: images}}\n");
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(baseYaml + yaml, "recipes/x.yaml"));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Label_fraction_is_refused_for_self_supervised_objectives_and_hf_targets_are_accepted()
    {
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(
            "name: x\nmodel: {arch: vit}\nobjective: {kind: mae}\ndata:\n  train: {synthetic: {kind: images}, label_fraction: 0.1}\n", "recipes/x.yaml"));
        Assert.Contains("data.train.label_fraction applies to objective.kind classify", e.Message);
        var ok = RecipeLoader.Parse("name: x\nmodel: {arch: vit}\nobjective: {kind: classify}\ninit: {checkpoint: x}\nlora: {targets: [query, value]}\ndata:\n  train: {synthetic: {kind: images}}\n", "recipes/x.yaml");
        Assert.Equal(["q_proj", "v_proj"], Pretrain.Models.Peft.LoraTargets.Normalize("vit", ok.Lora!.Targets));
    }
}
