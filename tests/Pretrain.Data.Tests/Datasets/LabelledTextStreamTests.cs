using Parquet;
using Parquet.Schema;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Synthetic;
using Pretrain.Data.Text;
using Xunit;

namespace Pretrain.Data.Tests.Datasets;

public sealed class LabelledTextStreamTests
{
    private static readonly ByteLevelTokenizer Bytes = new(["<eos>"]);

    private static LabelledTextStream Open(IReadOnlyList<string> files, DataCursor? resume = null, double holdout = 0, bool eval = false,
        int? maxEpochs = 1, int rank = 0, int world = 1, int maxTokens = 64) =>
        new(new LabelledTextOptions
        {
            Files = files,
            Seed = 7,
            Rank = rank,
            WorldSize = world,
            HoldoutFraction = holdout,
            HoldoutSide = eval,
            Shuffle = !eval,
            MaxEpochs = maxEpochs,
            MaxTokens = maxTokens,
            NumClasses = 2,
        }, Bytes, resume);

    private static List<(LabelledText Row, DataCursor After)> Drain(LabelledTextStream s, int max = int.MaxValue)
    {
        var rows = new List<(LabelledText, DataCursor)>();
        while (rows.Count < max && s.TryNext(out var row, out var after))
            rows.Add((row, after));
        return rows;
    }

    private static string Key(LabelledText r) => $"{r.File}/{r.RowGroup}/{r.Row}";

    [Fact]
    public void Rows_carry_truncated_ids_and_labels_in_a_seeded_order()
    {
        using var dir = new TempDir();
        var files = SyntheticLabelledText.Write(dir.Path, 60, 2, 8, 3);
        using var a = Open(files, maxTokens: 10);
        var rows = Drain(a);
        Assert.Equal(60, rows.Count);
        Assert.Equal(60, rows.Select(r => Key(r.Row)).Distinct().Count());
        Assert.All(rows, r => Assert.True(r.Row.Ids.Length <= 10));
        var first = rows[0].Row;
        var expected = SyntheticLabelledText.Row(3, first.File * 30 + first.RowGroup * 8 + first.Row);
        Assert.Equal(expected.Label, first.Label);
        Assert.Equal(Bytes.Encode(expected.Text).Take(10), first.Ids);
        using var b = Open(files, maxTokens: 10);
        Assert.Equal(rows.Select(r => Key(r.Row)), Drain(b).Select(r => Key(r.Row)));
    }

    [Fact]
    public void Resume_from_any_cursor_continues_exactly()
    {
        using var dir = new TempDir();
        var files = SyntheticLabelledText.Write(dir.Path, 50, 2, 7, 1);
        using var full = Open(files, maxEpochs: 2);
        var all = Drain(full);
        foreach (int cut in new[] { 1, 13, 49, 50, 77 })
        {
            using var resumed = Open(files, all[cut - 1].After, maxEpochs: 2);
            Assert.Equal(all.Skip(cut).Select(r => Key(r.Row) + r.Row.Epoch), Drain(resumed).Select(r => Key(r.Row) + r.Row.Epoch));
        }
    }

    [Fact]
    public void Holdout_sides_are_disjoint_and_cover_the_rows()
    {
        using var dir = new TempDir();
        var files = SyntheticLabelledText.Write(dir.Path, 80, 2, 10, 2);
        using var train = Open(files, holdout: 0.25);
        using var eval = Open(files, holdout: 0.25, eval: true);
        var t = Drain(train).Select(r => Key(r.Row)).ToHashSet();
        var e = Drain(eval).Select(r => Key(r.Row)).ToHashSet();
        Assert.Empty(t.Intersect(e));
        Assert.Equal(80, t.Count + e.Count);
        Assert.InRange(e.Count, 8, 35);
    }

    [Fact]
    public void Ranks_split_the_rows()
    {
        using var dir = new TempDir();
        var files = SyntheticLabelledText.Write(dir.Path, 40, 1, 10, 2);
        using var r0 = Open(files, rank: 0, world: 2);
        using var r1 = Open(files, rank: 1, world: 2);
        var a = Drain(r0).Select(r => Key(r.Row)).ToList();
        var b = Drain(r1).Select(r => Key(r.Row)).ToList();
        Assert.Equal(20, a.Count);
        Assert.Equal(20, b.Count);
        Assert.Empty(a.Intersect(b));
    }

    [Fact]
    public async Task A_null_label_or_missing_column_names_file_row_and_column()
    {
        using var dir = new TempDir();
        string path = dir.File("bad.parquet");
        var text = new DataField<string>("text", true);
        var label = new DataField<long?>("label");
        await using (var stream = File.Create(path))
        {
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(text, label), stream);
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(text, new string?[] { "a", "b", "c" });
            await group.WriteAsync<long>(label, new long?[] { 0, null, 5 }.AsMemory());
        }

        using var s = new LabelledTextStream(new LabelledTextOptions { Files = [path], Shuffle = false, MaxEpochs = 1, NumClasses = 2 }, Bytes);
        Assert.True(s.TryNext(out _, out _));
        var e = Assert.Throws<DataException>(() => s.TryNext(out _, out _));
        Assert.Contains("bad.parquet: row group 0, row 1, column 'label'", e.Message);
        Assert.Contains("null", e.Message);
        var missing = Assert.Throws<DataException>(() =>
            new LabelledTextStream(new LabelledTextOptions { Files = [path], LabelColumn = "y" }, Bytes));
        Assert.Contains("label column 'y'", missing.Message);
    }
}
