using System.Globalization;
using System.Text.Json.Nodes;
using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using static TorchSharp.torch;

namespace Pretrain.Bench.Qlora;

/// <summary>
/// QLoRA figures (tools/bench/qlora.sh; results in docs/model-import.md):
/// <c>memory</c> builds a Llama-shaped ~100M model with adapters on all seven projections and counts the bytes of the
/// adapted linear weights in float32, int8 and nf4 (the tensors each quantized weight holds), beside the whole base;
/// <c>curves RUN_A RUN_B</c> prints two runs' metrics.jsonl side by side (train loss, eval loss) and the median step time.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        switch (args)
        {
            case ["memory"]:
                Memory();
                return 0;
            case ["curves", var a, var b, .. var rest]:
                Curves(a, b, rest.Length > 0 ? int.Parse(rest[0], CultureInfo.InvariantCulture) : 10);
                return 0;
            default:
                Console.Error.WriteLine("usage: memory | curves RUN_A RUN_B [EVERY]");
                return 2;
        }
    }

    /// <summary>The ~100M shape: d 768, 12 layers, 12 heads (4 key/value), SwiGLU 2048, vocabulary 32,000, tied head.</summary>
    private static readonly DecoderLmConfig Shape = new()
    {
        Arch = "llama", VocabSize = 32_000, MaxSeqLen = 2048, EmbedDim = 768, NumLayers = 12, NumHeads = 12, NumKvHeads = 4,
        MlpHiddenDim = 2048, TieEmbeddings = true,
    };

    private static readonly LoraConfig Adapters = new()
    {
        Rank = 16, Alpha = 32, Targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    };

    private static void Memory()
    {
        set_num_threads(1);
        Console.WriteLine($"model: llama d {Shape.EmbedDim}, {Shape.NumLayers} layers, {Shape.NumHeads} heads ({Shape.NumKvHeads} kv), MLP {Shape.MlpHiddenDim}, vocab {Shape.VocabSize}, tied; LoRA r {Adapters.Rank} on all 7 projections");
        Console.WriteLine();
        Console.WriteLine("| base | adapted linear weights | × smaller | rel. RMS error | rest of the base (embeddings, norms) | whole base | × smaller | adapters (fp32) |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        long linear32 = 0, whole32 = 0;
        foreach (var kind in new[] { "none", "int8", "nf4" })
        {
            using var scope = NewDisposeScope();
            using var model = new DecoderLm(Shape, Adapters);
            model.InitializeWeights(7);
            var layers = LoraModel.Layers(model);
            var adapterBytes = model.named_parameters().Where(p => p.name.Contains("lora_", StringComparison.Ordinal)).Sum(p => 4 * p.parameter.numel());
            var originals = kind == "none" ? null : layers.Select(l => l.Layer.Weight.detach().clone()).ToList();
            var (quantized, fp32) = LoraModel.QuantizeBase(model, kind);
            // Counted from the tensors that remain: float32 parameters that are not adapters (an emptied W has none).
            var rest = model.named_parameters().Where(p => !p.name.Contains("lora_", StringComparison.Ordinal)).Sum(p => p.parameter.numel() * p.parameter.element_size());
            long linear;
            double error = 0;
            if (kind == "none")
            {
                linear = layers.Sum(l => 4 * l.Layer.Weight.numel());
                rest -= linear;
                (linear32, whole32) = (linear, linear + rest);
            }
            else
            {
                linear = quantized;
                double sq = 0, norm = 0;
                for (int i = 0; i < layers.Count; i++)
                {
                    using var w = layers[i].Layer.QuantizedBase!.Dequantize();
                    sq += (w - originals![i]).square().sum().item<float>();
                    norm += originals[i].square().sum().item<float>();
                }
                error = Math.Sqrt(sq / norm);
                if (fp32 != linear32)
                    throw new InvalidOperationException($"{kind}: replaced {fp32} float32 bytes, counted {linear32}");
            }
            var whole = linear + rest;
            Console.WriteLine($"| {(kind == "none" ? "fp32" : kind)} | {Mb(linear)} | {(double)linear32 / linear:F2} | {(kind == "none" ? "—" : $"{100 * error:F1} %")} | {Mb(rest)} | {Mb(whole)} | {(double)whole32 / whole:F2} | {Mb(adapterBytes)} |");
        }
    }

    private static string Mb(long bytes) => $"{bytes / 1e6:F2} MB ({bytes:N0} B)";

    private sealed record Row(long Step, double? Loss, double? EvalLoss, double? StepSeconds);

    /// <summary>Rows of metrics.jsonl; a train row's step time is its tokens over its tokens/s (log_every 1: one step each).</summary>
    private static List<Row> Read(string run)
    {
        var rows = new List<Row>();
        long lastTokens = 0;
        foreach (var line in File.ReadLines(Path.Combine(run, "metrics.jsonl")))
        {
            var n = JsonNode.Parse(line)!.AsObject();
            long step = n["step"]!.GetValue<long>();
            double? Num(string k) => n[k] is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;
            double? seconds = null;
            if (Num("tokens") is double tokens && Num("tokens_per_s") is double rate && rate > 0)
            {
                seconds = (tokens - lastTokens) / rate;
                lastTokens = (long)tokens;
            }
            rows.Add(new Row(step, Num("loss"), Num("eval_loss"), seconds));
        }
        return rows;
    }

    private static void Curves(string a, string b, int every)
    {
        var ra = Read(a);
        var rb = Read(b);
        string Name(string run) => Path.GetFileName(Path.TrimEndingDirectorySeparator(run));
        Console.WriteLine($"| step | loss {Name(a)} | loss {Name(b)} | eval loss {Name(a)} | eval loss {Name(b)} |");
        Console.WriteLine("|---|---|---|---|---|");
        var steps = ra.Select(r => r.Step).Union(rb.Select(r => r.Step)).Distinct().Order()
            .Where(s => s == 1 || s % every == 0).ToList();
        string Cell(List<Row> rows, long s, Func<Row, double?> pick) =>
            rows.Where(r => r.Step == s).Select(pick).FirstOrDefault(v => v is not null) is double v ? v.ToString("F3") : "";
        foreach (var s in steps)
        {
            var cells = new[] { Cell(ra, s, r => r.Loss), Cell(rb, s, r => r.Loss), Cell(ra, s, r => r.EvalLoss), Cell(rb, s, r => r.EvalLoss) };
            if (cells.Any(c => c.Length > 0))
                Console.WriteLine($"| {s} | {string.Join(" | ", cells)} |");
        }
        // Step 1 carries the first step's warm-up (allocations, first quantized forward); left out of the medians.
        double Median(List<Row> rows)
        {
            var t = rows.Where(r => r.Step > 1 && r.StepSeconds is not null).Select(r => r.StepSeconds!.Value).Order().ToList();
            return t.Count == 0 ? double.NaN : t.Count % 2 == 1 ? t[t.Count / 2] : (t[t.Count / 2 - 1] + t[t.Count / 2]) / 2;
        }
        var (ma, mb) = (Median(ra), Median(rb));
        Console.WriteLine();
        Console.WriteLine($"median step time: {Name(a)} {ma * 1000:F0} ms, {Name(b)} {mb * 1000:F0} ms ({mb / ma:F2}×; steps 2.., {ra.Count(r => r.StepSeconds is not null) - 1} and {rb.Count(r => r.StepSeconds is not null) - 1} steps)");
        // The sum over every logged window (step 1 and the windows around evals included): the loop's total time.
        var (sa, sb) = (ra.Sum(r => r.StepSeconds ?? 0), rb.Sum(r => r.StepSeconds ?? 0));
        Console.WriteLine($"sum of step windows: {Name(a)} {sa:F1} s, {Name(b)} {sb:F1} s ({sb / sa:F2}×)");
    }
}
