namespace Pretrain.Training;

/// <summary>How `pretrain run` was asked to run a recipe.</summary>
public sealed record RunOptions
{
    public required string RecipePath { get; init; }
    public IReadOnlyList<string> Overrides { get; init; } = [];
    /// <summary>null: fresh run; "auto": newest valid checkpoint of the run folder if any; else a run or step folder.</summary>
    public string? Resume { get; init; }
    /// <summary>The run folder itself; default runs/&lt;recipe name&gt;.</summary>
    public string? RunDir { get; init; }
}
