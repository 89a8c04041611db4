using System.Globalization;

namespace Pretrain.Bench;

/// <summary>Command-line settings of the benchmark.</summary>
public sealed record BenchOptions
{
    /// <summary>Torch intra-op threads for every measurement (torch.set_num_threads and the recipe's train.threads).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Interleaved repeats; each repeat measures everything once.</summary>
    public int Repeats { get; init; } = 3;

    /// <summary>The short version: fewer measured windows per repeat.</summary>
    public bool Quick { get; init; }

    /// <summary>Steps per timed window, and the trainer's train.log_every.</summary>
    public int Window { get; init; } = 5;

    /// <summary>The recipe the quickstart shape is read from.</summary>
    public string? QuickstartRecipe { get; init; }

    /// <summary>Benchmark the optimizer step (flat vs per-parameter AdamW) instead of training throughput.</summary>
    public bool Optimizer { get; init; }

    /// <summary>Only the shapes whose name is listed (null: all).</summary>
    public IReadOnlyList<string>? Models { get; init; }

    /// <summary>Only the bf16-mixed vs fp32 comparison (<see cref="PrecisionBench"/>); repeats = its windows per precision.</summary>
    public bool Precision { get; init; }

    /// <summary>Only libtorch autocast vs casts written into the forward, on one block (<see cref="AutocastBench"/>).</summary>
    public bool AutocastVsCast { get; init; }

    public const string Usage = """
        pretrain-bench [--threads N] [--repeats R] [--quick] [--window STEPS] [--models quickstart,gpt2-small] [--recipe recipes/quickstart.yaml] [--optimizer] [--precision] [--autocast-vs-cast]
          --threads  torch threads for all measurements (default: Environment.ProcessorCount)
          --repeats  interleaved repeats; medians are reported (default 3, --quick 2)
          --quick    about a minute on 2 cores: fewer timed windows per repeat
          --window   steps per timed window = the trainer's log_every (default 5)
          --optimizer  time one optimizer step (clip + AdamW + zero_grad), flat vs per-parameter (default 7 repeats)
          --precision  only bf16-mixed vs fp32 tokens/s (GPT d384/L6 seq 256, small ViT), interleaved windows
          --autocast-vs-cast  only one transformer block's step under libtorch autocast vs casts in the forward (time, equality)
        """;

    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var o = new BenchOptions();
        int? repeats = null;
        for (int i = 0; i < args.Count; i++)
        {
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.\n{Usage}");
            int Positive(string v) => int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0
                ? n : throw new ArgumentException($"{args[i - 1]} needs a positive integer, got '{v}'.");
            o = args[i] switch
            {
                "--threads" => o with { Threads = Positive(Value()) },
                "--repeats" => o with { Repeats = (repeats = Positive(Value())).Value },
                "--quick" => o with { Quick = true },
                "--optimizer" => o with { Optimizer = true },
                "--precision" => o with { Precision = true },
                "--autocast-vs-cast" => o with { AutocastVsCast = true },
                "--window" => o with { Window = Positive(Value()) },
                "--recipe" => o with { QuickstartRecipe = Value() },
                "--models" => o with { Models = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                "-h" or "--help" => throw new ArgumentException(Usage),
                _ => throw new ArgumentException($"Unknown argument '{args[i]}'.\n{Usage}"),
            };
        }
        if (o.Optimizer && repeats is null) o = o with { Repeats = 7 };
        else if (o.Quick && repeats is null) o = o with { Repeats = 2 };
        return o;
    }
}
