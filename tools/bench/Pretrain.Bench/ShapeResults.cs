namespace Pretrain.Bench;

/// <summary>One model's per-repeat results (each value is that repeat's median over its timed windows).</summary>
public sealed class ShapeResults(BenchShape shape, long parameters, double flopsPerToken)
{
    public BenchShape Shape { get; } = shape;
    public long Parameters { get; } = parameters;
    public double FlopsPerToken { get; } = flopsPerToken;
    public List<double> Bare { get; } = [];
    public List<double> Trainer { get; } = [];
    public List<double> EndToEnd { get; } = [];
    public List<double> EndToEndSeconds { get; } = [];

    /// <summary>Per-repeat ratio trainer / bare (same run, windows alternating in time).</summary>
    public IEnumerable<double> Ratios => Trainer.Zip(Bare, (t, b) => t / b);

    public void Add(PairedMeasurement m)
    {
        Bare.Add(Stats.Median(m.BareRates));
        Trainer.Add(Stats.Median(m.TrainerRates));
        EndToEnd.Add(m.EndToEndTokensPerS);
        EndToEndSeconds.Add(m.EndToEndSeconds);
    }
}
