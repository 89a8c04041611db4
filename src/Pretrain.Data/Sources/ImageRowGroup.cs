namespace Pretrain.Data.Sources;

/// <summary>
/// One row group of an image dataset as stored: encoded bytes per row (null for a null image), the struct's
/// <c>path</c> per row (null when the column is plain binary) and labels (null when the dataset is read unlabelled).
/// </summary>
public sealed record ImageRowGroup(byte[]?[] Bytes, string?[]? Paths, long?[]? Labels);
