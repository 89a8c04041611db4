namespace Pretrain.Data.Sampling;

/// <summary>One row group of one file: the unit that epoch orders shuffle (file index into the resolved file list).</summary>
public readonly record struct RowGroupRef(int File, int RowGroup, long Rows);
