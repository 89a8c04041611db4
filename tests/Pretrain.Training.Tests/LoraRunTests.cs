using System.Text.Json.Nodes;
using Pretrain.Models.Weights;

namespace Pretrain.Training.Tests;

[Collection("torch")]
public sealed class LoraRunTests
{
    private static string LoraRecipe(TempDir dir, string baseRun, int maxSteps)
    {
        var path = TinyRun.Recipe(dir, "lora", dropout: 0.1, maxSteps: maxSteps);
        File.AppendAllText(path, $"init: {{checkpoint: '{baseRun}'}}\nlora: {{rank: 2, alpha: 4, targets: [q_proj, v_proj, up_proj], trainable: ['*norm*']}}\n");
        return path;
    }

    [Fact]
    public void Lora_run_writes_peft_adapters_trains_only_them_and_resumes_exactly()
    {
        using var dir = new TempDir();
        TinyRun.Run(TinyRun.Recipe(dir, "base", maxSteps: 4), dir["base"]);
        var baseStep = Path.Combine(dir["base"], "checkpoints", "step-00000004");
        var recipe = LoraRecipe(dir, dir["base"], 8);
        TinyRun.Run(recipe, dir["straight"]);
        using (var cts = new CancellationTokenSource())
            TinyRun.Run(recipe, dir["resumed"], observer: new StopAfter(5, cts), cancel: cts.Token);
        TinyRun.Run(recipe, dir["resumed"], resume: "auto");

        string Step(string run) => Path.Combine(dir[run], "checkpoints", "step-00000008");
        Assert.False(File.Exists(Path.Combine(Step("straight"), "model.safetensors")), "LoRA checkpoints are adapter-only by default");
        var adapterConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(Step("straight"), "adapter_config.json")))!.AsObject();
        Assert.Equal("LORA", adapterConfig["peft_type"]!.GetValue<string>());
        Assert.Equal(2, adapterConfig["r"]!.GetValue<int>());
        Assert.Equal(Pretrain.Models.Peft.PeftAdapterLayout.Sha256File(Path.Combine(baseStep, "model.safetensors")),
            adapterConfig["pretrain"]!["base_sha256"]!.GetValue<string>());

        // Exact resume of adapters and optimizer moments.
        Assert.Equal(File.ReadAllBytes(Path.Combine(Step("straight"), "adapter_model.safetensors")),
                     File.ReadAllBytes(Path.Combine(Step("resumed"), "adapter_model.safetensors")));

        // The optimizer held state only for adapters and the chosen norms.
        var moments = Safetensors.Load(Path.Combine(Step("straight"), "optimizer.safetensors")).Keys.ToList();
        Assert.NotEmpty(moments);
        Assert.All(moments, k => Assert.True(k.Contains("lora_", StringComparison.Ordinal) || k.Contains("norm", StringComparison.Ordinal), k));
    }

    [Theory]
    [InlineData("nf4")]
    [InlineData("int8")]
    public void Qlora_run_on_a_quantized_base_writes_adapters_only(string kind)
    {
        using var dir = new TempDir();
        TinyRun.Run(TinyRun.Recipe(dir, "base", maxSteps: 4), dir["base"]);
        var path = TinyRun.Recipe(dir, "qlora", maxSteps: 4);
        File.AppendAllText(path, $"init: {{checkpoint: '{dir["base"]}'}}\nlora: {{rank: 2, alpha: 4, targets: [q_proj, v_proj, up_proj], quantize_base: {kind}}}\n");
        TinyRun.Run(path, dir["q"]);
        var step = Path.Combine(dir["q"], "checkpoints", "step-00000004");
        Assert.False(File.Exists(Path.Combine(step, "model.safetensors")), "a QLoRA checkpoint holds the adapters and the base's reference only");
        var adapters = Safetensors.Load(Path.Combine(step, "adapter_model.safetensors"));
        Assert.NotEmpty(adapters);
        Assert.All(adapters.Keys, k => Assert.Contains("lora_", k, StringComparison.Ordinal));
        var adapterConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(step, "adapter_config.json")))!.AsObject();
        Assert.Equal(kind, adapterConfig["pretrain"]!["quantize_base"]!.GetValue<string>()); // export merges into this base
        Assert.Equal(kind, Pretrain.Models.Peft.PeftAdapterLayout.ReadConfig(step, "gpt2").QuantizeBase);
    }

    [Theory]
    [InlineData("none")]
    [InlineData("nf4")]
    public void Dora_run_trains_magnitudes_and_resumes_exactly(string quantize)
    {
        using var dir = new TempDir();
        TinyRun.Run(TinyRun.Recipe(dir, "base", maxSteps: 4), dir["base"]);
        var path = TinyRun.Recipe(dir, "dora", dropout: 0.1, maxSteps: 12);
        var text = File.ReadAllText(path);
        Assert.Contains("lr: 3.0e-3", text, StringComparison.Ordinal);
        File.WriteAllText(path, text.Replace("lr: 3.0e-3", "lr: 1.0e-2", StringComparison.Ordinal));
        File.AppendAllText(path, $"init: {{checkpoint: '{dir["base"]}'}}\nlora: {{rank: 2, alpha: 4, dropout: 0.1, targets: [q_proj, v_proj, up_proj, down_proj], use_dora: true, quantize_base: {quantize}}}\n");
        TinyRun.Run(path, dir["straight"]);
        using (var cts = new CancellationTokenSource())
            TinyRun.Run(path, dir["resumed"], observer: new StopAfter(6, cts), cancel: cts.Token);
        TinyRun.Run(path, dir["resumed"], resume: "auto");

        string Step(string run) => Path.Combine(dir[run], "checkpoints", "step-00000012");
        var adapterConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(Step("straight"), "adapter_config.json")))!.AsObject();
        Assert.True(adapterConfig["use_dora"]!.GetValue<bool>());
        var adapters = Safetensors.Load(Path.Combine(Step("straight"), "adapter_model.safetensors"));
        var magnitudes = adapters.Where(kv => kv.Key.EndsWith(".lora_magnitude_vector", StringComparison.Ordinal)).ToList();
        Assert.Equal(2 * 3, magnitudes.Count); // c_attn (q, v), mlp.c_fc and mlp.c_proj in each of 2 blocks
        // m trained away from its start: the c_fc rows' norms in the base are not what the checkpoint holds.
        var baseWeights = Safetensors.Load(Path.Combine(dir["base"], "checkpoints", "step-00000004", "model.safetensors"));
        var cfc = baseWeights["transformer.h.0.mlp.c_fc.weight"]; // Conv1D [in, out]
        using var start = cfc.square().sum(0).sqrt();
        using var moved = (adapters["base_model.model.transformer.h.0.mlp.c_fc.lora_magnitude_vector"] - start).abs().max();
        Assert.True(moved.item<float>() > 1e-4, $"m moved by {moved.item<float>()}");

        // Exact resume: the magnitudes come back from the adapter file, not from the first forward.
        Assert.Equal(File.ReadAllBytes(Path.Combine(Step("straight"), "adapter_model.safetensors")),
                     File.ReadAllBytes(Path.Combine(Step("resumed"), "adapter_model.safetensors")));
    }

    [Fact]
    public void Lora_without_init_is_refused_with_the_key_named()
    {
        using var dir = new TempDir();
        var path = TinyRun.Recipe(dir, "lonely");
        File.AppendAllText(path, "lora: {rank: 2}\n");
        var e = Assert.Throws<Pretrain.Training.Recipes.RecipeException>(() => TinyRun.Run(path, dir["run"]));
        Assert.Contains("init.checkpoint", e.Message);
    }
}
