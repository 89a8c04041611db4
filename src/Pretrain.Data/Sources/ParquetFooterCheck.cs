using System.Globalization;
using Parquet.Meta;
using Pretrain.Data.Sampling;

namespace Pretrain.Data.Sources;

/// <summary>
/// What a Parquet footer declares is checked before anything is sized by it: each row group's row count must be
/// 0..<see cref="EpochOrder.MaxUnitRows"/> (epoch orders hold one row group's permutation, readers one row group's
/// values), and each column chunk must have metadata with non-negative counts whose bytes lie inside the file.
/// A footer can claim any count in a few bytes (a 124-byte file declaring 4·10⁸ rows cost 1.7 GB before failing).
/// </summary>
internal static class ParquetFooterCheck
{
    /// <summary>Throws a <see cref="DataException"/> naming the file and row group for the first impossible value.</summary>
    /// <param name="fileBytes">Length of the file, or null where unknown (http): byte ranges are then not checked.</param>
    /// <param name="fix">What the user should do, e.g. "remove it from data.train.files".</param>
    public static void Check(string path, FileMetaData? meta, long? fileBytes, string fix)
    {
        if (meta?.RowGroups is not { } groups)
            throw new DataException($"{path}: the footer lists no row groups; it is damaged. Re-write the file or {fix}.");
        if (meta.Schema is not { Count: > 1 })
            throw new DataException($"{path}: the footer declares no columns; it is damaged. Re-write the file or {fix}.");
        for (int g = 0; g < groups.Count; g++)
        {
            string? problem = Problem(groups[g], fileBytes);
            if (problem is not null)
                throw new DataException($"{path}: row group {g} {problem}. Re-write the file or {fix}.");
        }
    }

    private static string? Problem(RowGroup group, long? fileBytes)
    {
        long rows = group.NumRows;
        if (rows < 0)
            return $"declares {N(rows)} rows, which is impossible (the footer is damaged)";
        if (rows > EpochOrder.MaxUnitRows)
        {
            return $"declares {N(rows)} rows, more than the {N(EpochOrder.MaxUnitRows)} read per row group (its row order "
                + "and values are held in memory); if the file is genuine, write it with smaller row groups "
                + "(e.g. PyArrow row_group_size=1_000_000)";
        }

        if (group.Columns is null)
            return "has no column list (the footer is damaged)";
        for (int c = 0; c < group.Columns.Count; c++)
        {
            var chunk = group.Columns[c].MetaData;
            if (chunk is null)
                return $"column {c} has no metadata (the footer is damaged)";
            string name = chunk.PathInSchema is { Count: > 0 } p ? string.Join('.', p) : c.ToString(CultureInfo.InvariantCulture);
            if (chunk.NumValues < 0 || chunk.TotalCompressedSize < 0 || chunk.TotalUncompressedSize < 0 || chunk.DataPageOffset < 0)
                return $"column '{name}' declares a negative size or offset (the footer is damaged)";
            long start = Math.Min(chunk.DataPageOffset, chunk.DictionaryPageOffset is long d and >= 0 ? d : long.MaxValue);
            if (fileBytes is long length && (start > length || chunk.TotalCompressedSize > length - start))
            {
                return $"column '{name}' declares {N(chunk.TotalCompressedSize)} bytes at offset {N(start)}, past the end "
                    + $"of the file ({N(length)} bytes): the file is truncated or its footer is damaged";
            }
        }

        return null;
    }

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
