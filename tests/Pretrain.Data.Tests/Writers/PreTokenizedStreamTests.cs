using ParquetSharp;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Tests.Datasets;
using Pretrain.Data.Text;
using static Pretrain.Data.Tests.Datasets.StreamFixture;

namespace Pretrain.Data.Tests.Writers;

/// <summary>
/// Pre-tokenized datasets: PackedTextStream reads list&lt;int32|int64&gt; ids (here from ParquetSharp files in v2 pages,
/// which only the ParquetSharp fallback decodes) with the same order, sharding, holdout and resume as text.
/// </summary>
public sealed class PreTokenizedStreamTests
{
    private const int Rows = 240;

    private static IReadOnlyList<string> WriteFiles(TempDir dir) =>
    [
        ForeignFiles.WriteParquetSharp(dir.File("a.parquet"), Compression.Zstd, ParquetDataPageVersion.V2, Rows, 60),
        ForeignFiles.WriteParquetSharp(dir.File("b.parquet"), Compression.Snappy, ParquetDataPageVersion.V1, Rows, 45),
    ];

    private static PackedTextStream Open(IReadOnlyList<string> files, string column = "ids64", int blockSize = 7, int rank = 0, int world = 1,
        bool shuffle = true, double holdout = 0, bool eval = false, DataCursor? resume = null, ITextTokenizer? tokenizer = null) =>
        new(new PackedTextOptions
        {
            Files = files,
            TokenColumn = column,
            BlockSize = blockSize,
            Seed = 11,
            Rank = rank,
            WorldSize = world,
            Shuffle = shuffle,
            HoldoutFraction = holdout,
            HoldoutSide = eval,
            MaxEpochs = 1,
            Prefetch = 3,
        }, tokenizer ?? new IdTokenizer(), resume);

    /// <summary>Documents (split at EOS) of a token stream.</summary>
    private static List<int[]> Split(List<int> tokens)
    {
        var docs = new List<int[]>();
        var current = new List<int>();
        foreach (int t in tokens)
        {
            if (t == IdTokenizer.Eos)
            {
                docs.Add([.. current]);
                current.Clear();
            }
            else
            {
                current.Add(t);
            }
        }

        return docs;
    }

    [Theory]
    [InlineData("ids32")]
    [InlineData("ids64")]
    public void FileOrderStreamIsTheIdsEachFollowedByEos(string column)
    {
        using var dir = new TempDir();
        var files = WriteFiles(dir);
        using var stream = Open([files[0]], column, shuffle: false);
        var tokens = Tokens(ReadAll(stream).Select(i => i.Block));
        var expected = Enumerable.Range(0, Rows).Select(r => ForeignFiles.Ids(r)).Where(d => d is not null)
            .SelectMany(d => d!.Append(IdTokenizer.Eos)).ToList();
        Assert.Equal(expected.Take(tokens.Count), tokens);
        Assert.Equal(Rows - 5, stream.RowsRead); // rows 7, 57, 107, 157, 207 hold null lists
        Assert.Equal(5, stream.RowsSkipped);
    }

    [Fact]
    public void RanksAndHoldoutSplitEveryDocumentOnce()
    {
        using var dir = new TempDir();
        var files = WriteFiles(dir);
        var seen = new List<int[]>();
        foreach (bool eval in new[] { false, true })
        {
            for (int rank = 0; rank < 2; rank++)
            {
                using var stream = Open(files, blockSize: 1, rank: rank, world: 2, holdout: 0.2, eval: eval);
                seen.AddRange(Split(Tokens(ReadAll(stream).Select(i => i.Block))));
            }
        }

        // Both files hold the same rows: every non-null document appears exactly twice over ranks and sides.
        var expected = Enumerable.Range(0, Rows).Select(ForeignFiles.Ids).Where(d => d is not null).SelectMany(d => new[] { d!, d! });
        Assert.Equal(expected.Select(d => string.Join(',', d)).Order(), seen.Select(d => string.Join(',', d)).Order());
    }

    [Fact]
    public void ResumeFromAnyCursorContinuesIdentically()
    {
        using var dir = new TempDir();
        var files = WriteFiles(dir);
        List<(int[] Block, DataCursor Cursor, long RowsRead)> all;
        using (var stream = Open(files))
        {
            all = ReadAll(stream);
        }

        Assert.True(all.Count > 50);
        foreach (int k in new[] { 0, 13, all.Count / 2, all.Count - 2 })
        {
            using var resumed = Open(files, resume: all[k].Cursor);
            var rest = ReadAll(resumed);
            Assert.Equal(all.Skip(k + 1).Select(i => i.Block), rest.Select(i => i.Block));
        }
    }

    [Fact]
    public void IdOutsideVocabularyNamesFileRowGroupRowAndColumn()
    {
        using var dir = new TempDir();
        var files = WriteFiles(dir);
        using var stream = Open([files[1]], shuffle: false, tokenizer: new ByteLevelTokenizer(["<|endoftext|>"]));
        var e = Assert.Throws<DataException>(() => ReadAll(stream));
        Assert.Contains(files[1], e.Message);
        Assert.Contains("row group 0, row 26, column 'ids64': token id 260 is outside the tokenizer's vocabulary [0, 257)", e.Message);
    }

    [Fact]
    public void TextColumnAsTokenColumnIsRefusedWithTheSetting()
    {
        using var dir = new TempDir();
        var files = WriteFiles(dir);
        var e = Assert.Throws<DataException>(() => Open(files, column: "text"));
        Assert.Contains("column 'text' is string", e.Message);
        Assert.Contains("not list<int32> or list<int64> token ids. Set data.train.token_column", e.Message);
    }
}
