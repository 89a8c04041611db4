namespace Pretrain.Training;

/// <summary>What a finished (or stopped) run leaves: its folder, final state and summary.</summary>
public sealed record RunResult(string RunDir, TrainerState State, IReadOnlyDictionary<string, object?> Summary);
