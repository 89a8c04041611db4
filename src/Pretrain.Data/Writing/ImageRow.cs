namespace Pretrain.Data.Writing;

/// <summary>One row of an image dataset: encoded image bytes (PNG, JPEG…), the path it came from (may be null) and its label (null: unlabelled).</summary>
public sealed record ImageRow(byte[] Bytes, string? Path, long? Label);
