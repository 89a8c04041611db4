namespace Pretrain.Data.Inspection;

/// <summary>
/// One column chunk: its dotted path, codec (e.g. ZSTD), first data page's version ("v1", "v2" or "?") and encodings
/// (e.g. PLAIN, RLE_DICTIONARY, DELTA_BINARY_PACKED).
/// </summary>
public sealed record ParquetChunkSummary(string Column, string Codec, string Pages, IReadOnlyList<string> Encodings);
