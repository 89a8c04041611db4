using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Pretrain.Models.Modules;
using Pretrain.Models.Text;
using static TorchSharp.torch;

namespace Pretrain.Bench.Checkpoint;

/// <summary>
/// Peak memory and step time of a small GPT (d 384, 6 layers, 6 heads, vocab 8192) at seq 1024 with and without
/// activation checkpointing. Peak RSS (VmHWM) only grows, so every run is its own child process; runs alternate
/// off, on, off, on… and medians over the repeats are reported. Each child: model + AdamW, one warm-up step, then
/// timed steps (forward, cross-entropy, backward, AdamW, zero_grad; one dispose scope per step). Progress goes to
/// stderr, the markdown table to stdout.
/// </summary>
public static class Program
{
    private sealed record Options(int Repeats = 3, int Steps = 3, int Threads = 2, int Seq = 1024, int Batch = 2);

    private sealed record Run(bool Checkpointing, double StepSeconds, double BaselineMb, double PeakMb, double HeldAfterForwardMb);

    public static int Main(string[] args)
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        var o = new Options();
        bool? child = null;
        for (int i = 0; i < args.Length; i++)
        {
            int Next() => i + 1 < args.Length && int.TryParse(args[++i], out int v) && v > 0
                ? v : throw new ArgumentException($"{args[i - 1]} needs a positive integer.");
            switch (args[i])
            {
                case "--repeats": o = o with { Repeats = Next() }; break;
                case "--steps": o = o with { Steps = Next() }; break;
                case "--threads": o = o with { Threads = Next() }; break;
                case "--seq": o = o with { Seq = Next() }; break;
                case "--batch": o = o with { Batch = Next() }; break;
                case "--child": child = args[++i] == "on"; break;
                default:
                    Console.Error.WriteLine($"Unknown argument '{args[i]}'. Usage: checkpoint.sh [--repeats R] [--steps S] [--threads N] [--seq T] [--batch B]");
                    return 2;
            }
        }
        if (child is bool on)
        {
            var r = Child(o, on);
            Console.Out.WriteLine(FormattableString.Invariant($"{r.StepSeconds} {r.BaselineMb} {r.PeakMb} {r.HeldAfterForwardMb}"));
            return 0;
        }
        return Parent(o, args);
    }

    private static int Parent(Options o, string[] args)
    {
        var runs = new List<Run>();
        var started = DateTime.UtcNow;
        for (int r = 0; r < o.Repeats; r++)
        {
            foreach (bool on in new[] { false, true })
            {
                var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
                foreach (var a in args) psi.ArgumentList.Add(a);
                psi.ArgumentList.Add("--child");
                psi.ArgumentList.Add(on ? "on" : "off");
                using var p = Process.Start(psi)!;
                string line = p.StandardOutput.ReadToEnd().Trim();
                p.WaitForExit();
                if (p.ExitCode != 0)
                    throw new InvalidOperationException($"child run failed with exit code {p.ExitCode}");
                var f = line.Split(' ').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
                runs.Add(new Run(on, f[0], f[1], f[2], f[3]));
                Console.Error.WriteLine($"{DateTime.Now:HH:mm:ss} [{r + 1}/{o.Repeats}] checkpointing {(on ? "on " : "off")}: " +
                    $"{f[0]:F2} s/step, RSS {f[1]:F0} MB after build, peak {f[2]:F0} MB, held after forward {f[3]:F0} MB");
            }
        }
        double Med(bool on, Func<Run, double> pick) => Median(runs.Where(x => x.Checkpointing == on).Select(pick));
        var (offT, onT) = (Med(false, x => x.StepSeconds), Med(true, x => x.StepSeconds));
        var (offP, onP) = (Med(false, x => x.PeakMb - x.BaselineMb), Med(true, x => x.PeakMb - x.BaselineMb));
        Console.Out.WriteLine($"GPT d384/L6/H6, vocab 8192, seq {o.Seq} × batch {o.Batch}, fp32, AdamW; {o.Steps} timed steps per run after 1 warm-up; " +
            $"{o.Repeats} runs each, interleaved; {o.Threads} torch threads; {Cpu()}; {started:yyyy-MM-dd HH:mm} UTC");
        Console.Out.WriteLine();
        Console.Out.WriteLine("| checkpointing | s/step (median) | peak RSS MB | peak − RSS after build, MB | held after forward MB | per run: s/step; peak − build MB |");
        Console.Out.WriteLine("| --- | ---: | ---: | ---: | ---: | --- |");
        foreach (bool on in new[] { false, true })
        {
            var mine = runs.Where(x => x.Checkpointing == on).ToList();
            Console.Out.WriteLine($"| {(on ? "every block" : "off")} | {Med(on, x => x.StepSeconds):F2} | {Med(on, x => x.PeakMb):F0} | " +
                $"{Med(on, x => x.PeakMb - x.BaselineMb):F0} | {Med(on, x => x.HeldAfterForwardMb):F0} | " +
                string.Join(", ", mine.Select(x => $"{x.StepSeconds:F2}; {x.PeakMb - x.BaselineMb:F0}")) + " |");
        }
        Console.Out.WriteLine();
        // Each on run against the off run just before it: the two saw the same spell of background load.
        var off = runs.Where(x => !x.Checkpointing).ToList();
        var ckpt = runs.Where(x => x.Checkpointing).ToList();
        var timeRatios = off.Zip(ckpt, (a, b) => b.StepSeconds / a.StepSeconds).ToList();
        var peakRatios = off.Zip(ckpt, (a, b) => (b.PeakMb - b.BaselineMb) / (a.PeakMb - a.BaselineMb)).ToList();
        Console.Out.WriteLine($"Paired (each on run / the off run before it), median: time ×{Median(timeRatios):F2} " +
            $"({string.Join(", ", timeRatios.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))}); " +
            $"training peak over the built model ×{Median(peakRatios):F2} ({string.Join(", ", peakRatios.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))}); " +
            $"medians: {offP - onP:F0} MB less, time ×{onT / offT:F2}.");
        return 0;
    }

    private static Run Child(Options o, bool on)
    {
        set_num_threads(o.Threads);
        var config = new DecoderLmConfig { Arch = "gpt2", VocabSize = 8192, MaxSeqLen = o.Seq, EmbedDim = 384, NumLayers = 6, NumHeads = 6 };
        using var model = new DecoderLm(config, checkpointing: on ? new ActivationCheckpointing() : null);
        model.InitializeWeights(1337);
        model.train();
        using var optimizer = optim.AdamW(model.parameters(), 3e-4, 0.9, 0.95, 1e-8, 0.1);
        using var generator = new TorchSharp.torch.Generator(7, CPU);
        using var input = randint(config.VocabSize, [o.Batch, o.Seq], ScalarType.Int64, generator: generator);
        using var target = randint(config.VocabSize, [o.Batch, o.Seq], ScalarType.Int64, generator: generator);
        double baseline = Status("VmRSS");
        double held = 0;
        var times = new List<double>();
        for (int s = 0; s <= o.Steps; s++)
        {
            long t0 = Stopwatch.GetTimestamp();
            using (var scope = NewDisposeScope())
            {
                long before = InUseBytes();
                var logits = model.call(input);                                          // (B, T, V)
                var loss = nn.functional.cross_entropy(logits.view(-1, logits.shape[^1]), target.view(-1));
                if (s == 1)
                    held = (InUseBytes() - before) / 1e6;   // activations the graph (and the step's wrappers) hold
                loss.backward();
                optimizer.step();
                optimizer.zero_grad();
            }
            if (s > 0)
                times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        return new Run(on, Median(times), baseline, Status("VmHWM"), held);
    }

    /// <summary>A /proc/self/status field in MB (VmRSS: resident now; VmHWM: peak resident).</summary>
    private static double Status(string field)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Mallinfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    private static extern Mallinfo2 MallInfo();

    /// <summary>glibc bytes in use (arena chunks + mmap'd chunks): libtorch's CPU tensors are malloc'd.</summary>
    private static long InUseBytes()
    {
        var m = MallInfo();
        return (long)(m.Uordblks + m.Hblkhd);
    }

    private static string Cpu()
    {
        var model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
        var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "";
        var simd = flags.Split(' ').Where(f => f is "avx2" or "fma" || f.StartsWith("avx512", StringComparison.Ordinal) || f.StartsWith("amx", StringComparison.Ordinal));
        return $"{model?[(model.IndexOf(':') + 1)..].Trim() ?? "unknown CPU"}, {Environment.ProcessorCount} cores, flags {string.Join(" ", simd)}";
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length == 0 ? double.NaN : v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }
}
