namespace Pretrain.Data.Writing;

/// <summary>What a <c>pretrain data prepare</c> conversion wrote: the Parquet shards, their rows, and the class names (index = label) when known.</summary>
public sealed record PreparedDataset(IReadOnlyList<string> Files, long Rows, IReadOnlyList<string>? Classes);
