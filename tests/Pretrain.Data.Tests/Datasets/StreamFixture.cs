using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Writing;

namespace Pretrain.Data.Tests.Datasets;

/// <summary>Small Parquet files whose rows are "0".."N-1", split unevenly over files and row groups.</summary>
internal static class StreamFixture
{
    /// <summary>(rows, rows per group) per file: 11 row groups, 49 rows.</summary>
    private static readonly (int Rows, int PerGroup)[] Layout = [(23, 5), (17, 4), (9, 9)];

    public static int TotalRows => Layout.Sum(l => l.Rows);

    public static IReadOnlyList<string> WriteIdFiles(TempDir dir)
    {
        var paths = new List<string>();
        int next = 0;
        for (int f = 0; f < Layout.Length; f++)
        {
            string path = dir.File($"ids-{f}.parquet");
            var rows = Enumerable.Range(next, Layout[f].Rows).Select(i => (string?)i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            TextParquetWriter.Write(path, rows.ToList(), Layout[f].PerGroup);
            next += Layout[f].Rows;
            paths.Add(path);
        }

        return paths;
    }

    public static List<(int[] Block, DataCursor Cursor, long RowsRead)> ReadAll(PackedTextStream stream, int limit = 100_000)
    {
        var items = new List<(int[], DataCursor, long)>();
        while (items.Count < limit && stream.TryNext(out int[] block, out var cursor))
        {
            items.Add((block, cursor, stream.RowsRead));
        }

        return items;
    }

    /// <summary>Undoes packing: the token stream the blocks were cut from (minus any dropped tail).</summary>
    public static List<int> Tokens(IEnumerable<int[]> blocks)
    {
        var tokens = new List<int>();
        foreach (int[] block in blocks)
        {
            tokens.AddRange(tokens.Count == 0 ? block : block[1..]);
        }

        return tokens;
    }

    /// <summary>Row ids in stream order (every id-token is followed by EOS).</summary>
    public static List<int> Docs(IEnumerable<int[]> blocks) =>
        Tokens(blocks).Where(t => t != IdTokenizer.Eos).ToList();
}
