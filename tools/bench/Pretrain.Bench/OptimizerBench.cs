using System.Diagnostics;
using System.Text;
using Pretrain.Models.Text;
using Pretrain.Training.Optim;
using TorchSharp;
using AdamW = Pretrain.Training.Optim.AdamW;
using static TorchSharp.torch;

namespace Pretrain.Bench;

/// <summary>
/// One optimizer step — clip to norm 1, AdamW update, zero_grad — of the flat-buffer <see cref="AdamW"/> against
/// the per-parameter one it replaced (<see cref="PerParameterAdamW"/> + nn.utils.clip_grad_norm_), on two identical
/// copies of a shape's model with the same fixed gradients. Gradients are put in place outside the timed region
/// (a fresh tensor per parameter for the per-parameter optimizer, as backward allocates; a copy into the bound
/// views for the flat one, as backward accumulates). Windows alternate, their order flipping every repeat.
/// </summary>
public static class OptimizerBench
{
    /// <summary>Per repeat: the median step of a window, in thread CPU ms (see <see cref="ThreadCpuMs"/>) and in wall ms.</summary>
    public sealed record Row(string Shape, long Parameters, int Tensors, List<double> PerParameterMs, List<double> FlatMs,
        List<double> PerParameterWallMs, List<double> FlatWallMs);

    /// <summary>
    /// CPU time of the calling thread (ns field of /proc/thread-self/schedstat) in ms. With one torch thread every
    /// kernel runs on the calling thread, so this is the step's work without the time the shared machine's
    /// scheduler kept it waiting; NaN where schedstat is missing.
    /// </summary>
    private static double ThreadCpuMs()
    {
        try
        {
            var text = File.ReadAllText("/proc/thread-self/schedstat");
            return long.Parse(text.AsSpan(0, text.IndexOf(' ', StringComparison.Ordinal)), System.Globalization.CultureInfo.InvariantCulture) / 1e6;
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    public static Row Measure(BenchShape shape, int repeats, int stepsPerWindow)
    {
        var config = shape.ModelConfig();
        var o = shape.Recipe.Optimizer;
        using var a = new DecoderLm(config);
        using var b = new DecoderLm(config);
        a.InitializeWeights(1);
        b.InitializeWeights(1);
        var namedA = a.named_parameters().Select(p => (p.name, p.parameter)).ToList();
        var namedB = b.named_parameters().Select(p => (p.name, p.parameter)).ToList();
        using var generator = new Generator(11, CPU);
        var grads = namedA.Select(p => (randn(p.parameter.shape, generator: generator) * 1e-2).DetachFromDisposeScope()).ToList();
        using var perParameter = new PerParameterAdamW(namedA, (_, p) => p.dim() >= 2, o.Lr, o.Betas[0], o.Betas[1], o.Eps, o.WeightDecay);
        using var flat = new AdamW(namedB, (_, p) => p.dim() >= 2, o.Lr, o.Betas[0], o.Betas[1], o.Eps, o.WeightDecay);
        var parametersA = namedA.Select(p => p.parameter).ToList();

        (double Cpu, double Wall) PerParameterStep()
        {
            using var scope = NewDisposeScope();
            for (int i = 0; i < grads.Count; i++) parametersA[i].grad = grads[i].clone();
            long t0 = Stopwatch.GetTimestamp();
            double c0 = ThreadCpuMs();
            nn.utils.clip_grad_norm_(parametersA, 1.0);
            perParameter.step();
            perParameter.zero_grad();
            return (ThreadCpuMs() - c0, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }

        (double Cpu, double Wall) FlatStep()
        {
            using var scope = NewDisposeScope();
            using (no_grad())
            {
                for (int i = 0; i < grads.Count; i++)
                {
                    var p = namedB[i].parameter;
                    var g = p.grad;
                    if (g is null) p.grad = grads[i].clone();   // first step: the optimizer binds it to the buffer
                    else g.copy_(grads[i]);
                }
            }
            long t0 = Stopwatch.GetTimestamp();
            double c0 = ThreadCpuMs();
            flat.ClipGradNorm(1.0);
            flat.step();
            flat.zero_grad();
            return (ThreadCpuMs() - c0, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }

        void Window(Func<(double Cpu, double Wall)> step, List<double> cpu, List<double> wall)
        {
            var steps = Enumerable.Range(0, stepsPerWindow).Select(_ => step()).ToList();
            cpu.Add(Stats.Median(steps.Select(s => s.Cpu)));
            wall.Add(Stats.Median(steps.Select(s => s.Wall)));
        }

        PerParameterStep();   // warm-up: allocator, thread pool, the flat optimizer's first binding
        FlatStep();
        var row = new Row(shape.Name, parametersA.Sum(p => p.numel()), parametersA.Count, [], [], [], []);
        for (int r = 0; r < repeats; r++)
        {
            if (r % 2 == 0)
            {
                Window(PerParameterStep, row.PerParameterMs, row.PerParameterWallMs);
                Window(FlatStep, row.FlatMs, row.FlatWallMs);
            }
            else
            {
                Window(FlatStep, row.FlatMs, row.FlatWallMs);
                Window(PerParameterStep, row.PerParameterMs, row.PerParameterWallMs);
            }
            Console.Error.WriteLine($"{DateTime.Now:HH:mm:ss} [{r + 1}/{repeats}] {shape.Name}: per-parameter {row.PerParameterMs[^1]:F2} ms CPU " +
                $"({row.PerParameterWallMs[^1]:F2} wall), flat {row.FlatMs[^1]:F2} ms CPU ({row.FlatWallMs[^1]:F2} wall)");
        }
        foreach (var g in grads) g.Dispose();
        return row;
    }

    public static string ToMarkdown(IReadOnlyList<Row> rows, BenchOptions options, int stepsPerWindow)
    {
        var sb = new StringBuilder();
        sb.AppendLine();
        sb.AppendLine("| model | params | tensors | per-parameter CPU ms/step | flat CPU ms/step | speed-up (CPU) | per-parameter wall ms | flat wall ms | speed-up (wall) |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in rows)
        {
            double per = Stats.Median(r.PerParameterMs), flat = Stats.Median(r.FlatMs);
            double perWall = Stats.Median(r.PerParameterWallMs), flatWall = Stats.Median(r.FlatWallMs);
            sb.AppendLine($"| {r.Shape} | {r.Parameters / 1e6:F2}M | {r.Tensors} | {per:F2} | {flat:F2} | {per / flat:F2}× | {perWall:F2} | {flatWall:F2} | {perWall / flatWall:F2}× |");
        }
        sb.AppendLine();
        foreach (var r in rows)
            sb.AppendLine($"- {r.Shape} per repeat (CPU ms), per-parameter: {Join(r.PerParameterMs)}; flat: {Join(r.FlatMs)}");
        sb.AppendLine("- CPU ms = the calling thread's CPU time (/proc/thread-self/schedstat): the whole step's work only with --threads 1; " +
            "wall ms includes time the scheduler kept the step waiting");
        sb.AppendLine($"- one step = clip_grad_norm to 1.0 + AdamW update + zero_grad, fp32, {stepsPerWindow} steps per window (its median), " +
            $"{options.Repeats} repeats alternating which optimizer goes first; the table shows medians over repeats");
        sb.AppendLine($"- threads: {options.Threads}; machine: {Environment.ProcessorCount} cores, {Machine.CpuModel()} ({Machine.CpuFlags()}); date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        return sb.ToString();
    }

    private static string Join(IEnumerable<double> values) =>
        string.Join(", ", values.Select(v => v.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)));
}
