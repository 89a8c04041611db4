using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Reference;

/// <summary>
/// TorchSharp's sdpa with a boolean attn_mask (true = attend) against PyTorch computing the same attention
/// (softmax(QKᵀ/√d, false → −∞)·V, as PyTorch documents sdpa), on a block-diagonal causal mask.
/// </summary>
[Collection("torch")]
public sealed class SdpaMaskReferenceTests
{
    [ReferenceFact(ReferenceTool.PythonTorch)]
    public void BoolMaskMeansAttendAsInPyTorch()
    {
        using var scope = NewDisposeScope();
        const int h = 2, t = 5, d = 4;
        var gen = new Generator(3);
        var q = randn([1, h, t, d], generator: gen);
        var k = randn([1, h, t, d], generator: gen);
        var v = randn([1, h, t, d], generator: gen);
        int[] docs = [0, 0, 1, 1, 1];
        var maskValues = new bool[t * t];
        for (int i = 0; i < t; i++)
        {
            for (int j = 0; j <= i; j++)
                maskValues[i * t + j] = docs[i] == docs[j];
        }

        var mask = tensor(maskValues, [1, 1, t, t]);
        var ours = nn.functional.scaled_dot_product_attention(q, k, v, mask, 0.0, false).data<float>().ToArray();
        string List(Tensor x) => "[" + string.Join(",", x.data<float>().ToArray().Select(f => f.ToString("R", CultureInfo.InvariantCulture))) + "]";
        string script =
            "import torch\n" +
            $"q=torch.tensor({List(q)}).view(1,{h},{t},{d}); k=torch.tensor({List(k)}).view(1,{h},{t},{d}); v=torch.tensor({List(v)}).view(1,{h},{t},{d})\n" +
            $"m=torch.tensor([{string.Join(",", maskValues.Select(b => b ? "True" : "False"))}]).view(1,1,{t},{t})\n" +
            // Debian's torch predates F.scaled_dot_product_attention: its documented math, written out.
            "s=(q@k.transpose(-2,-1))/(q.shape[-1]**0.5)\n" +
            "y=torch.softmax(s.masked_fill(~m,float('-inf')),-1)@v\n" +
            "print(' '.join(repr(float(x)) for x in y.flatten()))\n";
        var (code, output) = ReferenceTools.RunPython(["-c", script], TimeSpan.FromSeconds(120));
        Assert.True(code == 0, output);
        var theirs = output.Trim().Split(' ').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(theirs.Length, ours.Length);
        for (int i = 0; i < ours.Length; i++)
            Assert.Equal(theirs[i], ours[i], 1e-5);
        // Token 2 starts document 1: it attends to itself only, so its output is its own value row.
        var y = tensor(ours, [1, h, t, d]);
        Assert.True(y[0, TensorIndex.Colon, 2].allclose(v[0, TensorIndex.Colon, 2], 1e-5, 1e-6));
    }
}
