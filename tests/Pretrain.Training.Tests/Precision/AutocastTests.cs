using Pretrain.Models.Modules;
using Pretrain.Models.Text;
using Pretrain.Training.Precision;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests.Precision;

/// <summary>
/// The policy's autocast reaches libtorch's dispatcher: under bf16-mixed linear and attention compute in bf16,
/// norms fed by the fp32 residual stream, softmax statistics (log-softmax inside the loss) and the loss stay fp32;
/// the state is thread-local and restored on exit. A policy that never casts fails the bf16 assertions.
/// </summary>
[Collection("torch")]
public sealed class AutocastTests
{
    [Fact]
    public void Bf16MixedCastsMatmulsAndKeepsNormsSoftmaxAndLossInFp32()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(1);
        var config = new DecoderLmConfig { VocabSize = 32, MaxSeqLen = 8, EmbedDim = 16, NumLayers = 1, NumHeads = 2 };
        var linear = nn.Linear(16, 16);
        var attention = new CausalSelfAttention(config);
        var layerNorm = nn.LayerNorm(16);
        var rmsNorm = new RmsNorm(16, 1e-5);
        var x = randn(2, 8, 16);   // (B, T, C) fp32 residual stream
        var targets = randint(0, 16, [16]);

        var policy = new PrecisionPolicy("bf16-mixed", DeviceType.CPU);
        using (policy.Autocast())
        {
            Assert.True(LibTorchAutocast.Enabled(DeviceType.CPU));
            var h = linear.call(x);
            Assert.Equal(ScalarType.BFloat16, h.dtype);
            Assert.Equal(ScalarType.BFloat16, attention.call(x).dtype);
            Assert.Equal(ScalarType.BFloat16, x.matmul(x.transpose(1, 2)).dtype);
            Assert.Equal(ScalarType.Float32, layerNorm.call(x).dtype);
            Assert.Equal(ScalarType.Float32, rmsNorm.call(x).dtype);
            var logits = h.reshape(-1, 16);                                  // bf16 logits
            Assert.Equal(ScalarType.Float32, nn.functional.log_softmax(logits.to(ScalarType.Float32), -1).dtype);
            var loss = nn.functional.cross_entropy(logits, targets);         // on autocast's fp32 list
            Assert.Equal(ScalarType.Float32, loss.dtype);
            loss.backward();
        }
        Assert.False(LibTorchAutocast.Enabled(DeviceType.CPU));
        Assert.Equal(ScalarType.Float32, linear.call(x).dtype);
        Assert.Equal(ScalarType.Float32, linear.weight!.grad!.dtype);          // master weights' grads stay fp32
    }

    [Fact]
    public void Fp32PolicyNeverCasts()
    {
        using var scope = NewDisposeScope();
        var linear = nn.Linear(4, 4);
        using (PrecisionPolicy.Fp32().Autocast())
        {
            Assert.False(LibTorchAutocast.Enabled(DeviceType.CPU));
            Assert.Equal(ScalarType.Float32, linear.call(randn(2, 4)).dtype);
        }
    }

    [Fact]
    public void ScopesNestAndRestoreTheOuterState()
    {
        using var scope = NewDisposeScope();
        using (new PrecisionPolicy("bf16-mixed", DeviceType.CPU).Autocast())
        {
            using (new PrecisionPolicy("fp16-mixed", DeviceType.CPU).Autocast())
                Assert.Equal(ScalarType.Float16, LibTorchAutocast.Dtype(DeviceType.CPU));
            Assert.Equal(ScalarType.BFloat16, LibTorchAutocast.Dtype(DeviceType.CPU));
            Assert.True(LibTorchAutocast.Enabled(DeviceType.CPU));
        }
        Assert.False(LibTorchAutocast.Enabled(DeviceType.CPU));
    }

    [Fact]
    public void AutocastIsPerThread()
    {
        using var scope = NewDisposeScope();
        using (new PrecisionPolicy("bf16-mixed", DeviceType.CPU).Autocast())
        {
            bool other = true;
            var t = new Thread(() => other = LibTorchAutocast.Enabled(DeviceType.CPU));
            t.Start();
            t.Join();
            Assert.False(other);
        }
    }
}
