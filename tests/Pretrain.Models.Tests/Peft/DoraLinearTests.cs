using Pretrain.Models.Peft;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Tests.Peft;

/// <summary>DoRA's layer on its own: keys, the magnitude's start from the loaded W, merge/unmerge, dropout, QLoRA.</summary>
[Collection("torch")]
public sealed class DoraLinearTests
{
    private static readonly LoraConfig Config = new() { Rank = 4, Alpha = 8, Dropout = 0, UseDora = true };

    private static Tensor RowNorms(Tensor w) => w.square().sum(1).sqrt();

    [Fact]
    public void Magnitude_is_a_trained_adapter_key_that_starts_from_the_weights_present_at_the_first_forward()
    {
        using var scope = torch.NewDisposeScope();
        using var layer = new LoraLinear(6, 5, hasBias: true, Config);
        Assert.Equal(new[] { "bias", "lora_a", "lora_b", "lora_magnitude", "weight" }, layer.state_dict().Keys.Order(StringComparer.Ordinal));
        Assert.True(LoraLinear.IsAdapterParameter("blocks.0.attn.q_proj.lora_magnitude"));
        // A base loaded after construction (as a checkpoint is) sets m: the fresh adapter leaves the output unchanged.
        var loaded = torch.randn(5, 6) * 3;
        using (torch.no_grad())
            layer.Weight.copy_(loaded);
        var x = torch.randn(4, 6);
        Assert.True(layer.call(x).allclose(functional.linear(x, loaded, layer.Bias), rtol: 1e-5, atol: 1e-5));
        Assert.True(layer.Magnitude!.allclose(RowNorms(loaded), rtol: 1e-6, atol: 1e-6));
        // Once set, m is the layer's own: a later change of W does not reset it.
        using (torch.no_grad())
            layer.Weight.mul_(2);
        layer.call(x);
        Assert.True(layer.Magnitude!.allclose(RowNorms(loaded), rtol: 1e-6, atol: 1e-6));
    }

    [Theory]
    [InlineData("none")]
    [InlineData("nf4")]
    public void Merge_gives_the_unmerged_output_and_unmerge_takes_it_out(string quantize)
    {
        using var scope = torch.NewDisposeScope();
        using var layer = new LoraLinear(64, 8, hasBias: true, Config);
        using (torch.no_grad())
            layer.LoraB.normal_();
        if (quantize != "none")
            layer.QuantizeBase(quantize);
        layer.ResetMagnitude();
        using (torch.no_grad())
            layer.Magnitude!.mul_(torch.linspace(0.5, 1.5, 8));
        layer.eval();
        var x = torch.randn(3, 64);
        var adapted = layer.call(x);
        layer.Merge();
        // W' = m ⊙ V / ‖V‖: its row norms are m.
        Assert.True(RowNorms(layer.Weight).allclose(layer.Magnitude!, rtol: 1e-5, atol: 1e-5));
        Assert.True(layer.call(x).allclose(adapted, rtol: 1e-5, atol: 1e-5));
        var merged = layer.Weight.detach().clone();
        layer.Unmerge();
        Assert.False(layer.Merged);
        Assert.True(layer.call(x).allclose(adapted, rtol: 1e-5, atol: 1e-5));
        layer.Merge();
        Assert.True(layer.Weight.allclose(merged, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void Dropout_reaches_only_the_adapter_terms()
    {
        using var scope = torch.NewDisposeScope();
        using var layer = new LoraLinear(6, 5, hasBias: true, Config with { Dropout = 0.5 });
        layer.train();
        var x = torch.randn(4, 6);
        // Fresh adapter: B = 0 and m = ‖W‖, so m/‖V‖ = 1 and dropout cannot show in the output.
        Assert.True(layer.call(x).allclose(functional.linear(x, layer.Weight, layer.Bias), rtol: 1e-5, atol: 1e-6));
        // With m ≠ ‖V‖ the dropped input scales the (m/‖V‖ − 1)·W·drop(x) term: two calls differ.
        using (torch.no_grad())
            layer.Magnitude!.mul_(1.5);
        Assert.False(layer.call(x).allclose(layer.call(x)));
    }
}
