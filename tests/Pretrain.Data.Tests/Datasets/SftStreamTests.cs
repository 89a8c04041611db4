using Parquet;
using Parquet.Schema;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Synthetic;
using Pretrain.Data.Text;
using Xunit;

namespace Pretrain.Data.Tests.Datasets;

public sealed class SftStreamTests
{
    private static readonly ByteLevelTokenizer Bytes = new(["<eos>"]);

    private static SftStream Open(IReadOnlyList<string> files, DataCursor? resume = null, int? maxEpochs = 1, int rank = 0, int world = 1,
        int maxTokens = 64) =>
        new(new SftOptions { Files = files, Seed = 11, Rank = rank, WorldSize = world, MaxEpochs = maxEpochs, MaxTokens = maxTokens, Prefetch = 5 }, Bytes, resume);

    private static List<(SftPair Pair, DataCursor After)> Drain(SftStream s, int max = int.MaxValue)
    {
        var rows = new List<(SftPair, DataCursor)>();
        while (rows.Count < max && s.TryNext(out var pair, out var after))
            rows.Add((pair, after));
        return rows;
    }

    private static string Key(SftPair p) => $"{p.File}/{p.RowGroup}/{p.Row}@{p.Epoch}";

    [Fact]
    public void Assemble_keeps_prompt_head_and_reserves_room_for_the_response()
    {
        int[] P(int n, int from) => Enumerable.Range(from, n).ToArray();
        const int eos = 999;

        // Fits: prompt + response + eos, untouched.
        var (ids, pl, cut) = SftStream.Assemble(P(3, 0), P(2, 10), eos, 8);
        Assert.Equal([0, 1, 2, 10, 11, eos], ids);
        Assert.Equal(3, pl);
        Assert.False(cut);

        // Long prompt, short response: the prompt keeps its head, the response and eos stay whole.
        (ids, pl, cut) = SftStream.Assemble(P(20, 0), P(2, 10), eos, 8);
        Assert.Equal([0, 1, 2, 3, 4, 10, 11, eos], ids);
        Assert.Equal(5, pl);
        Assert.True(cut);

        // Short prompt, long response: the prompt stays whole, the response keeps its head and loses the eos.
        (ids, pl, cut) = SftStream.Assemble(P(2, 0), P(20, 10), eos, 8);
        Assert.Equal([0, 1, 10, 11, 12, 13, 14, 15], ids);
        Assert.Equal(2, pl);

        // Both long: the response part gets ⌈8/2⌉ = 4 ids, the prompt's head the other 4.
        (ids, pl, _) = SftStream.Assemble(P(20, 0), P(20, 10), eos, 8);
        Assert.Equal([0, 1, 2, 3, 10, 11, 12, 13], ids);
        Assert.Equal(4, pl);

        // Odd budget, prompt exactly filling it: the response still gets its reserve.
        (ids, pl, _) = SftStream.Assemble(P(7, 0), P(1, 10), eos, 7);
        Assert.Equal([0, 1, 2, 3, 4, 10, eos], ids);
        Assert.Equal(5, pl);
    }

    [Fact]
    public void Pairs_are_prompt_response_eos_with_the_prompt_length()
    {
        using var dir = new TempDir();
        var files = SyntheticSft.Write(dir.Path, 30, 2, 4, 5);
        using var s = Open(files);
        var rows = Drain(s);
        Assert.Equal(30, rows.Count);
        foreach (var (pair, _) in rows)
        {
            // Shard f holds global rows 15f.., 4 per row group.
            var (prompt, response) = SyntheticSft.Pair(5, (pair.File * 15) + (pair.RowGroup * 4) + pair.Row);
            Assert.Equal([.. Bytes.Encode(prompt), .. Bytes.Encode(response), Bytes.EosId], pair.Ids);
            Assert.Equal(Bytes.Encode(prompt).Length, pair.PromptLength);
            Assert.Equal(Bytes.Encode(response).Length + 1, pair.TargetCount);
            Assert.False(pair.Truncated);
        }
    }

    [Fact]
    public void Every_row_comes_once_per_epoch_on_one_rank_or_split_over_two()
    {
        using var dir = new TempDir();
        var files = SyntheticSft.Write(dir.Path, 61, 3, 6, 2);
        using var one = Open(files, maxEpochs: 2);
        var all = Drain(one);
        Assert.Equal(122, all.Count);
        Assert.Equal(122, all.Select(r => Key(r.Pair)).Distinct().Count());
        Assert.NotEqual(all.Take(61).Select(r => r.Pair.Row), all.Skip(61).Select(r => r.Pair.Row)); // reshuffled per epoch

        using var r0 = Open(files, rank: 0, world: 2);
        using var r1 = Open(files, rank: 1, world: 2);
        var a = Drain(r0).Select(r => Key(r.Pair)).ToList();
        var b = Drain(r1).Select(r => Key(r.Pair)).ToList();
        Assert.Equal(30, a.Count);   // 61 rows over 2 ranks: 30 rounds, one leftover dropped
        Assert.Equal(30, b.Count);
        Assert.Empty(a.Intersect(b));
        Assert.Subset(all.Take(61).Select(r => Key(r.Pair)).ToHashSet(), a.Concat(b).ToHashSet());
    }

    [Fact]
    public void Resume_mid_epoch_continues_exactly_on_one_and_two_ranks()
    {
        using var dir = new TempDir();
        var files = SyntheticSft.Write(dir.Path, 40, 2, 7, 1);
        using var full = Open(files, maxEpochs: 2);
        var all = Drain(full);
        foreach (int cut in new[] { 1, 17, 39, 40, 63 })
        {
            using var resumed = Open(files, all[cut - 1].After, maxEpochs: 2);
            Assert.Equal(all.Skip(cut).Select(r => Key(r.Pair)), Drain(resumed).Select(r => Key(r.Pair)));
        }

        for (int rank = 0; rank < 2; rank++)
        {
            using var ranked = Open(files, maxEpochs: 2, rank: rank, world: 2);
            var rows = Drain(ranked);
            using var resumed = Open(files, rows[8].After, maxEpochs: 2, rank: rank, world: 2);
            Assert.Equal(rows.Skip(9).Select(r => Key(r.Pair)), Drain(resumed).Select(r => Key(r.Pair)));
        }
    }

    [Fact]
    public async Task An_empty_response_or_missing_column_names_file_row_group_and_key()
    {
        using var dir = new TempDir();
        string path = dir.File("pairs.parquet");
        var prompt = new DataField<string>("prompt", true);
        var response = new DataField<string>("response", true);
        await using (var stream = File.Create(path))
        {
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(prompt, response), stream);
            using (var g0 = writer.CreateRowGroup())
            {
                await g0.WriteAsync(prompt, new string?[] { "a", "b" });
                await g0.WriteAsync(response, new string?[] { "x", "y" });
            }
            using var g1 = writer.CreateRowGroup();
            await g1.WriteAsync(prompt, new string?[] { "c", "d" });
            await g1.WriteAsync(response, new string?[] { "z", "" });
        }

        using var s = new SftStream(new SftOptions { Files = [path], Shuffle = false, MaxEpochs = 1 }, Bytes);
        Assert.Equal(3, Drain(s, 3).Count);
        var e = Assert.Throws<DataException>(() => s.TryNext(out _, out _));
        Assert.Contains("pairs.parquet: row group 1, row 1, column 'response'", e.Message);
        Assert.Contains("empty", e.Message);

        var missing = Assert.Throws<DataException>(() =>
            new SftStream(new SftOptions { Files = [path], ResponseColumn = "answer", ConfigKey = "data.eval" }, Bytes));
        Assert.Contains("column 'answer'", missing.Message);
        Assert.Contains("data.eval.response_column", missing.Message);
    }
}
