using Pretrain.Models.Peft;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Tests.Peft;

[Collection("torch")]
public sealed class LoraLinearTests
{
    private static readonly LoraConfig Config = new() { Rank = 4, Alpha = 8, Dropout = 0 };

    [Fact]
    public void Keys_shapes_and_init_follow_the_paper()
    {
        using var scope = torch.NewDisposeScope();
        using var layer = new LoraLinear(6, 5, hasBias: true, Config);
        var sd = layer.state_dict();
        Assert.Equal(new[] { "bias", "lora_a", "lora_b", "weight" }, sd.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(new long[] { 5, 6 }, sd["weight"].shape);
        Assert.Equal(new long[] { 4, 6 }, sd["lora_a"].shape);
        Assert.Equal(new long[] { 5, 4 }, sd["lora_b"].shape);
        Assert.Equal(0, sd["lora_b"].abs().sum().item<float>());
        // Kaiming-uniform with a = √5: bound = √(6 / ((1 + a²)·fan_in)) = 1/√fan_in.
        Assert.True(sd["lora_a"].abs().max().item<float>() <= 1 / Math.Sqrt(6) + 1e-6);
        Assert.True(sd["lora_a"].abs().sum().item<float>() > 0);
        Assert.Equal(2.0, layer.Scale);

        using var noBias = new LoraLinear(6, 5, hasBias: false, Config);
        Assert.Equal(new[] { "lora_a", "lora_b", "weight" }, noBias.state_dict().Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Zero_B_gives_the_plain_linear_output_and_the_update_is_scaled()
    {
        using var scope = torch.NewDisposeScope();
        using var layer = new LoraLinear(6, 5, hasBias: true, Config);
        var x = torch.randn(3, 6);
        var plain = functional.linear(x, layer.Weight, layer.Bias);
        Assert.True(layer.call(x).equal(plain).all().item<bool>());

        using (torch.no_grad())
            layer.LoraB.normal_();
        var expected = plain + 2.0 * x.matmul(layer.LoraA.t()).matmul(layer.LoraB.t());
        Assert.True(layer.call(x).allclose(expected, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void Rslora_scales_by_alpha_over_sqrt_r()
    {
        var rs = Config with { Rank = 16, Alpha = 8, UseRslora = true };
        Assert.Equal(2.0, rs.Scale);
        Assert.Equal(0.5, (rs with { UseRslora = false }).Scale);
        using var layer = new LoraLinear(6, 5, hasBias: false, rs);
        Assert.Equal(2.0, layer.Scale);
    }

    [Fact]
    public void Merge_is_idempotent_and_unmerge_round_trips()
    {
        using var scope = torch.NewDisposeScope();
        using var layer = new LoraLinear(6, 5, hasBias: true, Config);
        using (torch.no_grad())
            layer.LoraB.normal_();
        layer.eval();
        var x = torch.randn(3, 6);
        var adapted = layer.call(x);
        var w0 = layer.Weight.detach().clone();

        layer.Merge();
        layer.Merge(); // guarded: not added twice
        Assert.True(layer.Merged);
        Assert.True(layer.Weight.allclose(w0 + layer.Delta(), rtol: 0, atol: 1e-6));
        Assert.True(layer.call(x).allclose(adapted, rtol: 1e-5, atol: 1e-5));

        layer.Unmerge();
        layer.Unmerge();
        Assert.False(layer.Merged);
        Assert.True(layer.Weight.allclose(w0, rtol: 0, atol: 1e-6));
        Assert.True(layer.call(x).allclose(adapted, rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void Dropout_acts_on_the_lora_path_only()
    {
        using var scope = torch.NewDisposeScope();
        using var layer = new LoraLinear(6, 5, hasBias: true, Config with { Dropout = 0.5 });
        layer.train();
        var x = torch.randn(4, 6);
        // B = 0: the LoRA path adds nothing, so dropout on its input cannot show in the output.
        Assert.True(layer.call(x).equal(functional.linear(x, layer.Weight, layer.Bias)).all().item<bool>());
    }

    [Fact]
    public void Config_errors_name_the_key()
    {
        Assert.Contains("lora.rank", Assert.Throws<ArgumentException>(() => (Config with { Rank = 0 }).Validate()).Message);
        Assert.Contains("c_attn", Assert.Throws<ArgumentException>(() => (Config with { Targets = ["c_attn"] }).Validate()).Message);
        Assert.Contains("lora.layers", Assert.Throws<ArgumentException>(() =>
            new Pretrain.Models.Text.DecoderLm(TinyConfigs.Gpt2(), Config with { Layers = [2] })).Message);
    }
}
