namespace Pretrain.Data.Inspection;

/// <summary>What <c>pretrain data inspect</c> shows about one Parquet file.</summary>
/// <param name="Path">The file.</param>
/// <param name="CreatedBy">The writer recorded in the footer (<c>created_by</c>), if any.</param>
/// <param name="Schema">Top-level columns with readable types.</param>
/// <param name="Rows">Total rows.</param>
/// <param name="RowGroups">Row groups in file order.</param>
/// <param name="SampleColumn">The first string or list&lt;int&gt; column, sampled; null when there is none.</param>
/// <param name="Sample">First values of <paramref name="SampleColumn"/>, truncated.</param>
public sealed record ParquetFileSummary(
    string Path,
    string? CreatedBy,
    IReadOnlyList<ParquetColumnSummary> Schema,
    long Rows,
    IReadOnlyList<ParquetRowGroupSummary> RowGroups,
    string? SampleColumn,
    IReadOnlyList<string> Sample);
