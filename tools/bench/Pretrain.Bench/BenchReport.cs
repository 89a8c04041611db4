using System.Text;

namespace Pretrain.Bench;

/// <summary>All measurements of one benchmark run, and their markdown rendering (medians over repeats).</summary>
public sealed class BenchReport(BenchOptions options, IReadOnlyList<ShapeResults> rows, int loaderBlock)
{
    public IReadOnlyList<ShapeResults> Rows { get; } = rows;
    public List<double> MatmulGflops { get; } = [];
    public List<double> LoaderTokensPerS { get; } = [];
    /// <summary>Share of the CPUs other processes used during each repeat (the machine is shared).</summary>
    public List<double> OthersLoad { get; } = [];

    public string ToMarkdown()
    {
        double peak = Stats.Median(MatmulGflops) * 1e9;
        double Mfu(ShapeResults r, double tokensPerS) => r.FlopsPerToken * tokensPerS / peak;
        var sb = new StringBuilder();
        sb.AppendLine();
        sb.AppendLine("| model | params | bare tok/s | trainer tok/s | trainer/bare | MFU bare | MFU trainer |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in Rows)
        {
            double bare = Stats.Median(r.Bare), trainer = Stats.Median(r.Trainer);
            sb.AppendLine($"| {r.Shape.Name} | {r.Parameters / 1e6:F2}M | {bare:F0} | {trainer:F0} | {Stats.Median(r.Ratios):P1} | {Mfu(r, bare):P1} | {Mfu(r, trainer):P1} |");
        }
        sb.AppendLine();
        sb.AppendLine("| model | seq × batch | FLOPs/token | bare tok/s per repeat | trainer tok/s per repeat | trainer end to end tok/s (s) |");
        sb.AppendLine("| --- | --- | ---: | --- | --- | --- |");
        foreach (var r in Rows)
        {
            string e2e = string.Join(", ", r.EndToEnd.Zip(r.EndToEndSeconds, (t, s) => $"{t:F0} ({s:F1} s)"));
            sb.AppendLine($"| {r.Shape.Name} | {r.Shape.SeqLen} × {r.Shape.MicroBatch} | {r.FlopsPerToken / 1e6:F2}M | {Join(r.Bare)} | {Join(r.Trainer)} | {e2e} |");
        }
        sb.AppendLine();
        sb.AppendLine($"- matmul 1024³ fp32: {Stats.Median(MatmulGflops):F1} GFLOP/s (median of {MatmulGflops.Count} samples, before and after each model: {Join(MatmulGflops, "F1")})");
        sb.AppendLine($"- loader alone (PackedTextStream, byte tokenizer, block {loaderBlock}): {Stats.Median(LoaderTokensPerS):F0} tok/s (per repeat: {Join(LoaderTokensPerS)})");
        sb.AppendLine($"- other processes' share of the CPUs per repeat: {string.Join(", ", OthersLoad.Select(v => v.ToString("P0", System.Globalization.CultureInfo.InvariantCulture)))}");
        sb.AppendLine($"- threads: {options.Threads}; machine: {Environment.ProcessorCount} cores, {Machine.CpuModel()}; date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        sb.AppendLine($"- {options.Repeats} repeats{(options.Quick ? " (--quick)" : "")}; in each, bare and trainer windows of {options.Window} steps alternate " +
            "(after one warm-up step each); a repeat's value is its median window, the table shows medians over repeats " +
            "(trainer/bare: median of the per-repeat ratios); end to end = trainer tokens ÷ RecipeRunner.Run wall time, start-up and final checkpoint included");
        sb.AppendLine("- FLOPs/token = 6·N + 12·L·H·Q·T (N without position embeddings); MFU = FLOPs/token × tok/s ÷ matmul FLOP/s");
        return sb.ToString();
    }

    private static string Join(IEnumerable<double> values, string format = "F0") =>
        string.Join(", ", values.Select(v => v.ToString(format, System.Globalization.CultureInfo.InvariantCulture)));
}
