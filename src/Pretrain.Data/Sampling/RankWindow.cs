namespace Pretrain.Data.Sampling;

/// <summary>
/// This rank's wanted rows of one shuffle window of one epoch (one row group when the window is 1): row
/// <see cref="Rows"/>[i] of row group <see cref="Units"/>[<see cref="Slots"/>[i]] sits at global position
/// <see cref="Positions"/>[i] (ascending positions, epoch order). <see cref="Units"/> lists only the row groups that
/// hold a wanted row, in order of first use, so a reader reads at most the window's row groups and no others.
/// </summary>
public sealed record RankWindow(RowGroupRef[] Units, long[] Positions, int[] Slots, int[] Rows);
