using System.Diagnostics;
using System.Text;
using Pretrain.Training.Precision;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Pretrain.Bench;

/// <summary>
/// Issue 11's two ways to mixed precision, measured on one pre-LN transformer block (`--autocast-vs-cast`):
/// (a) libtorch's autocast (<see cref="PrecisionPolicy.Autocast"/>) around a plain fp32 forward, and (b) casts written
/// into the forward — activations and weights to bf16 before each linear and attention, norms on an fp32 copy — as a
/// module would do it. Same fp32 parameters for both; forward + backward per step; windows alternate so both see the
/// same load. Reports median step times, their ratio, and how far (b)'s output and weight gradients are from (a)'s.
/// </summary>
public static class AutocastBench
{
    private const int Dim = 128, Heads = 4, Seq = 64, Batch = 2;

    private sealed class Block
    {
        public readonly Tensor[] W;   // q, k, v, o (Dim, Dim); up (4·Dim, Dim); down (Dim, 4·Dim)
        public readonly Tensor[] B;   // their biases
        public readonly Tensor NormW = ones(Dim).requires_grad_(true).DetachFromDisposeScope();
        public readonly Tensor NormB = zeros(Dim).requires_grad_(true).DetachFromDisposeScope();

        public Block()
        {
            long[][] shapes = [[Dim, Dim], [Dim, Dim], [Dim, Dim], [Dim, Dim], [4 * Dim, Dim], [Dim, 4 * Dim]];
            W = shapes.Select(s => (randn(s) * 0.02).requires_grad_(true).DetachFromDisposeScope()).ToArray();
            B = shapes.Select(s => zeros(s[0]).requires_grad_(true).DetachFromDisposeScope()).ToArray();
        }

        public IEnumerable<Tensor> Parameters => W.Concat(B).Append(NormW).Append(NormB);

        /// <summary>x + attn(norm(x)) + mlp(norm(...)), one norm shared for brevity; <paramref name="cast"/> is way (b).</summary>
        public Tensor Forward(Tensor x, bool cast)   // (B, T, C) fp32 -> (B, T, C)
        {
            Tensor Lin(Tensor h, int i) => cast
                ? F.linear(h.to_type(ScalarType.BFloat16), W[i].to_type(ScalarType.BFloat16), B[i])   // bias left fp32, as autocast does
                : F.linear(h, W[i], B[i]);
            Tensor Norm(Tensor h) => F.layer_norm(cast ? h.to_type(ScalarType.Float32) : h, [Dim], NormW, NormB);
            var n = Norm(x);
            Tensor Split(Tensor t) => t.view(Batch, Seq, Heads, Dim / Heads).transpose(1, 2);   // (B, H, T, Dh)
            var y = F.scaled_dot_product_attention(Split(Lin(n, 0)), Split(Lin(n, 1)), Split(Lin(n, 2)), is_casual: true);
            var h = x + Lin(y.transpose(1, 2).reshape(Batch, Seq, Dim), 3);
            return h + Lin(F.gelu(Lin(Norm(h), 4)), 5);
        }
    }

    public static string Run(int threads, int windows, int window)
    {
        set_num_threads(threads);
        random.manual_seed(0);
        var block = new Block();
        var x = randn(Batch, Seq, Dim).DetachFromDisposeScope();
        var policy = new PrecisionPolicy("bf16-mixed", DeviceType.CPU);

        // Equality: output and weight gradients of (b) against (a).
        (Tensor Out, Tensor[] Grads) Pass(bool cast)
        {
            foreach (var p in block.Parameters) p.grad?.zero_();
            Tensor y;
            using (cast ? null : policy.Autocast()) y = block.Forward(x, cast);
            y.to_type(ScalarType.Float32).square().mean().backward();
            return (y.to_type(ScalarType.Float32).detach().clone(), block.W.Select(w => w.grad!.clone()).ToArray());
        }
        var (outA, gradA) = Pass(cast: false);
        var (outB, gradB) = Pass(cast: true);
        double outDiff = (outA - outB).abs().max().item<float>();
        double gradDiff = gradA.Zip(gradB).Max(g => (g.First - g.Second).abs().max().item<float>());
        double gradScale = gradA.Max(g => g.abs().max().item<float>());

        var a = new List<double>();
        var b = new List<double>();
        for (int w = 0; w < windows; w++)
        {
            a.Add(Window(block, x, policy, cast: false, window));
            b.Add(Window(block, x, policy, cast: true, window));
            Console.Error.WriteLine($"window {w + 1}/{windows}: autocast {a[^1]:F1} ms, casts in forward {b[^1]:F1} ms");
        }
        var sb = new StringBuilder();
        sb.AppendLine($"CPU: {Machine.CpuModel()}; torch threads {threads}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; block d{Dim} h{Heads} T{Seq} B{Batch}, forward + backward");
        sb.AppendLine();
        sb.AppendLine("| way | ms per step (median) | / autocast | output max abs diff vs autocast | weight-grad max abs diff (max grad) | windows × steps |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | --- |");
        sb.AppendLine($"| (a) libtorch autocast | {Median(a):F1} | 1.00× | 0 | 0 | {windows} × {window} |");
        sb.AppendLine($"| (b) casts in the forward | {Median(b):F1} | {Median(b) / Median(a):F2}× | {outDiff:G3} | {gradDiff:G3} ({gradScale:G3}) | {windows} × {window} |");
        return sb.ToString();
    }

    private static double Window(Block block, Tensor x, PrecisionPolicy policy, bool cast, int steps)
    {
        long t0 = Stopwatch.GetTimestamp();
        for (int s = 0; s < steps; s++)
        {
            using var scope = NewDisposeScope();
            foreach (var p in block.Parameters) p.grad?.zero_();
            Tensor y;
            using (cast ? null : policy.Autocast()) y = block.Forward(x, cast);
            y.to_type(ScalarType.Float32).square().mean().backward();
        }
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds / steps;
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }
}
