namespace Pretrain.Data.Writing;

/// <summary>A named, typed column of a table to write.</summary>
public sealed record TableColumn(string Name, ColumnType Type);
