using System.Diagnostics;
using Pretrain.Training;
using Pretrain.Training.Metrics;
using Pretrain.Training.Recipes;

namespace Pretrain.Bench;

/// <summary>One paired run: bare and trainer tokens/s per window, and the trainer end to end (start-up included).</summary>
public sealed record PairedMeasurement(
    IReadOnlyList<double> BareRates, IReadOnlyList<double> TrainerRates, double EndToEndSeconds, double EndToEndTokensPerS);

/// <summary>
/// Runs the real trainer (RecipeRunner.Run) on the shape's recipe in a fresh run folder under the temp root, with
/// the bare loop's windows interleaved (<see cref="PairedWindows"/>); reads the trainer's own tokens_per_s from
/// metrics.jsonl and deletes the folder. The trainer always writes a final checkpoint: outside every logged window
/// (windows end at the metrics row) but inside the end-to-end time.
/// </summary>
public static class TrainerBench
{
    public static PairedMeasurement Measure(BenchShape shape, int windows, int window, string tempRoot)
    {
        string dir = Path.Combine(tempRoot, $"{shape.Name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            int maxSteps = windows * window;
            var recipe = shape.Recipe with { Train = shape.Recipe.Train with { MaxSteps = maxSteps, LogEvery = window } };
            string recipePath = Path.Combine(dir, "recipe.yaml");
            File.WriteAllText(recipePath, RecipeLoader.ToYaml(recipe));

            using var bare = new BareLoop(shape);
            var paired = new PairedWindows(bare, window, maxSteps);
            long t0 = Stopwatch.GetTimestamp();
            var result = RecipeRunner.Run(new RunOptions { RecipePath = recipePath, RunDir = Path.Combine(dir, "run") }, paired);
            double seconds = (Stopwatch.GetElapsedTime(t0) - paired.Spent).TotalSeconds;

            // The row at step 1 is the warm-up step alone; the rows after it cover steps 2..window, then whole windows.
            var rates = MetricsLog.Read(Path.Combine(result.RunDir, "metrics.jsonl"))
                .Where(r => r.ContainsKey("tokens_per_s") && r["step"]!.GetValue<long>() > 1)
                .Select(r => r["tokens_per_s"]!.GetValue<double>())
                .ToList();
            return new PairedMeasurement(paired.BareRates, rates, seconds, maxSteps * shape.TokensPerStep / seconds);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
