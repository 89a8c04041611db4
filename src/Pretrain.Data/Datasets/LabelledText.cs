namespace Pretrain.Data.Datasets;

/// <summary>
/// One labelled row: its token ids (no special tokens, truncated), its class label, and where it came from
/// (file index, row group, row: stable across epochs and world sizes, for predictions).
/// </summary>
public sealed record LabelledText(int[] Ids, long Label, int File, int RowGroup, int Row)
{
    /// <summary>Epoch the row was drawn in.</summary>
    public int Epoch { get; init; }

    /// <summary>Global position in the epoch's order.</summary>
    public long Position { get; init; }
}
