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
    /// <summary>
    /// The data-parallel job this process is one rank of (null: one process). Rank 0 alone takes the run folder's
    /// lock and writes in it; every rank trains its shard (docs/distributed.md "Data-parallel training").
    /// </summary>
    public Pretrain.Distributed.ICollectives? Collectives { get; init; }
}
