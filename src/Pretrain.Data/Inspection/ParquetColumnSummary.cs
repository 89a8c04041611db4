namespace Pretrain.Data.Inspection;

/// <summary>A top-level column: name and readable type, e.g. <c>text: string?</c> or <c>input_ids: list&lt;int32&gt;?</c>.</summary>
public sealed record ParquetColumnSummary(string Name, string Type);
