using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pretrain.Training;

/// <summary>
/// Everything beyond weights and optimizer moments that exact resume needs: the step, the data cursor (as JSON,
/// owned by the data layer), the CPU RNG state, and bookkeeping (tokens seen, best metric, wall time).
/// Saved as trainer_state.json in each checkpoint.
/// </summary>
public sealed record TrainerState
{
    [JsonPropertyName("step")] public long Step { get; init; }
    [JsonPropertyName("tokens_seen")] public long TokensSeen { get; init; }
    [JsonPropertyName("optimizer_steps")] public long OptimizerSteps { get; init; }
    [JsonPropertyName("cursor")] public JsonElement Cursor { get; init; }
    [JsonPropertyName("rng_state")] public string RngState { get; init; } = "";
    /// <summary>Data parallel: every rank's CPU generator state in rank order (rank 0's is <see cref="RngState"/>); absent with one rank.</summary>
    [JsonPropertyName("rank_rng_states")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? RankRngStates { get; init; }
    [JsonPropertyName("best_metric_name")] public string BestMetricName { get; init; } = "eval_loss";
    /// <summary>min (lower is better) or max; files written before the direction was recorded read as min.</summary>
    [JsonPropertyName("best_metric_mode")] public string BestMetricMode { get; init; } = "min";
    [JsonPropertyName("best_metric")] public double? BestMetric { get; init; }
    [JsonPropertyName("best_step")] public long? BestStep { get; init; }
    [JsonPropertyName("last_eval")] public Dictionary<string, double>? LastEval { get; init; }
    [JsonPropertyName("elapsed_s")] public double ElapsedSeconds { get; init; }
    [JsonPropertyName("lr")] public double LearningRate { get; init; }
    /// <summary>Loss scale of fp16-mixed runs (null otherwise).</summary>
    [JsonPropertyName("loss_scale")] public double? LossScale { get; init; }
    /// <summary>Steps skipped for a non-finite loss or gradient so far, and how many of the latest were in a row (StepGuard).</summary>
    [JsonPropertyName("skipped_steps")] public long SkippedSteps { get; init; }
    [JsonPropertyName("consecutive_skipped_steps")] public int ConsecutiveSkippedSteps { get; init; }
    /// <summary>fp16-mixed: clean steps since the loss scale last changed (the scaler's growth tracker).</summary>
    [JsonPropertyName("loss_scale_growth_tracker")] public int? LossScaleGrowthTracker { get; init; }

    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    public static TrainerState Load(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(path), Json)
                ?? throw new InvalidDataException($"{path} is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid trainer state JSON: {e.Message}", e);
        }
    }
}
