using Pretrain.Models.Weights;
using Pretrain.Training.Metrics;

namespace Pretrain.Training.Tests;

[Collection("torch")]
public sealed class MaskedLmTaskTests
{
    private static string Recipe(TempDir dir, int maxSteps) => TinyRun.Recipe(dir, "mlm", dropout: 0.1, maxSteps: maxSteps, extra: "")
        .Also(p => File.WriteAllText(p, File.ReadAllText(p)
            .Replace("model: {arch: gpt2,", "model: {arch: bert,")
            .Replace("tokenizer: {kind: byte}", "tokenizer: {kind: byte, eos_token: '[SEP]', special_tokens: ['[CLS]', '[MASK]', '[PAD]']}\nobjective: {kind: mlm, whole_word: true}")));

    [Fact]
    public void Masked_lm_resume_is_bitwise_identical_including_the_masks()
    {
        using var dir = new TempDir();
        var recipe = Recipe(dir, 8);
        TinyRun.Run(recipe, dir["straight"]);
        using (var cts = new CancellationTokenSource())
            TinyRun.Run(recipe, dir["resumed"], observer: new StopAfter(5, cts), cancel: cts.Token);
        TinyRun.Run(recipe, dir["resumed"], resume: "auto");
        string Weights(string run) => Path.Combine(dir[run], "checkpoints", "step-00000008", "model.safetensors");
        Assert.Equal(File.ReadAllBytes(Weights("straight")), File.ReadAllBytes(Weights("resumed")));
        var curve = (string run) => MetricsLog.Read(Path.Combine(dir[run], "metrics.jsonl")).Select(r => r["loss"]?.ToString() ?? r["eval_loss"]?.ToString()).ToList();
        Assert.Equal(curve("straight"), curve("resumed"));
    }

    [Fact]
    public void Checkpoint_is_a_hugging_face_bert_for_masked_lm_and_every_parameter_learns()
    {
        using var dir = new TempDir();
        TinyRun.Run(Recipe(dir, 4), dir["run"]);
        var step = Path.Combine(dir["run"], "checkpoints", "step-00000004");
        var weights = Safetensors.Load(Path.Combine(step, "model.safetensors"));
        Assert.Contains("bert.encoder.layer.0.attention.self.query.weight", weights.Keys);
        Assert.Contains("cls.predictions.transform.dense.weight", weights.Keys);
        Assert.Contains("cls.predictions.bias", weights.Keys);
        // AdamW state exists for the encoder and the head, and every moment moved: gradients reached them all.
        var moments = Safetensors.Load(Path.Combine(step, "optimizer.safetensors"));
        Assert.Contains("mlm_head.dense.weight.exp_avg", moments.Keys);
        foreach (var (name, m) in moments.Where(kv => kv.Key.EndsWith(".exp_avg_sq", StringComparison.Ordinal)))
            Assert.True(m.abs().sum().item<float>() > 0, $"{name} never saw a gradient");
    }
}

internal static class FluentExtensions
{
    public static T Also<T>(this T value, Action<T> action)
    {
        action(value);
        return value;
    }
}
