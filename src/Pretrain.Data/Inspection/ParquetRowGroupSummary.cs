namespace Pretrain.Data.Inspection;

/// <summary>One row group: rows, compressed bytes (all column chunks) and each chunk's codec and page version.</summary>
public sealed record ParquetRowGroupSummary(long Rows, long CompressedBytes, IReadOnlyList<ParquetChunkSummary> Chunks);
