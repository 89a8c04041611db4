namespace Pretrain.Training;

/// <summary>What a finished (or stopped) run leaves: its folder, final state and summary.</summary>
public sealed record RunResult(string RunDir, TrainerState State, IReadOnlyDictionary<string, object?> Summary)
{
    /// <summary>The recipe the run used (the saved one on resume).</summary>
    public Recipes.Recipe? Recipe { get; init; }

    /// <summary>The newest complete checkpoint folder of the run.</summary>
    public string? LastCheckpoint { get; init; }

    /// <summary>This process's data-parallel rank: only rank 0 wrote the run folder (summary, checkpoints), and only it exports.</summary>
    public int Rank { get; init; }
}
