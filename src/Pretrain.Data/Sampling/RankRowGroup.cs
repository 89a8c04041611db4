namespace Pretrain.Data.Sampling;

/// <summary>
/// This rank's wanted rows of one row group in one epoch: <see cref="Positions"/>[i] is the global position of row
/// <see cref="Rows"/>[i] (ascending positions, epoch order).
/// </summary>
public sealed record RankRowGroup(RowGroupRef Unit, long[] Positions, int[] Rows);
