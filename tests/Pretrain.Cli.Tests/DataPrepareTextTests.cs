using Parquet;
using Parquet.Schema;

namespace Pretrain.Cli.Tests;

[Collection("torch")]   // CLI tests share one process; run them one at a time like the torch tests
public sealed class DataPrepareTextTests
{
    private static async Task<(ParquetSchema Schema, int Groups, List<object?[]> Rows)> ReadAll(string path)
    {
        await using var reader = await ParquetReader.CreateAsync(path);
        var fields = reader.Schema.GetDataFields();
        var rows = new List<object?[]>();
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var columns = new List<Array>();
            int n = (int)group.RowCount;
            foreach (var f in fields)
            {
                if (f.ClrType == typeof(string) || f.ClrType == typeof(ReadOnlyMemory<char>))
                {
                    var s = new string?[n];
                    await group.ReadAsync(f, s.AsMemory());
                    columns.Add(s);
                }
                else if (f.ClrType == typeof(long))
                {
                    var l = new long?[n];
                    await group.ReadAsync<long>(f, l.AsMemory());
                    columns.Add(l);
                }
                else
                {
                    var d = new double?[n];
                    await group.ReadAsync<double>(f, d.AsMemory());
                    columns.Add(d);
                }
            }

            for (int r = 0; r < group.RowCount; r++)
            {
                rows.Add(columns.Select(c => c.GetValue(r)).ToArray());
            }
        }

        return (reader.Schema, reader.RowGroupCount, rows);
    }

    [Fact]
    public async Task TextFoldersBecomeParagraphRowsInShards()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["in/sub"]);
        File.WriteAllText(dir["in/a.txt"], "First paragraph\nstill first.\r\n\r\nSecond.\n  \n\n\nThird.\n");
        File.WriteAllText(dir["in/sub/b.txt"], "Fourth.\n\nFifth.");
        File.WriteAllText(dir["in/ignored.md"], "not text");

        var (code, stdout, stderr) = CliRunner.Run("data", "prepare", "text", dir["in"], "--out", dir["out"], "--shards", "2", "--rows-per-group", "2");
        Assert.True(code == 0, stderr);
        Assert.Contains("wrote 5 rows", stdout);
        var a = await ReadAll(dir["out/part-00000.parquet"]);
        var b = await ReadAll(dir["out/part-00001.parquet"]);
        Assert.Equal(["First paragraph\nstill first.", "Second."], a.Rows.Select(r => (string?)r[0]));
        Assert.Equal(["Third.", "Fourth.", "Fifth."], b.Rows.Select(r => (string?)r[0]));
        Assert.Equal(2, b.Groups);
        Assert.Equal("text", a.Schema.GetDataFields()[0].Name);

        // Idempotent; fewer shards on a rerun remove the stale one.
        (code, _, stderr) = CliRunner.Run("data", "prepare", "text", dir["in/a.txt"], "--out", dir["out"], "--split-on", "line");
        Assert.True(code == 0, stderr);
        Assert.Equal(["manifest.json", "part-00000.parquet"], Directory.GetFiles(dir["out"]).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(4, (await ReadAll(dir["out/part-00000.parquet"])).Rows.Count);
    }

    [Fact]
    public void A_users_shards_in_out_are_neither_replaced_nor_removed()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["in"]);
        File.WriteAllText(dir["in/a.txt"], "One.\n\nTwo.\n\nThree.\n");
        Directory.CreateDirectory(dir["user"]);
        File.WriteAllText(dir["user/part-00000.parquet"], "mine");
        File.WriteAllText(dir["user/part-00007.parquet"], "mine too");

        // A folder holding shards we did not write is refused before any work; nothing in it changes.
        var (code, _, stderr) = CliRunner.Run("data", "prepare", "text", dir["in"], "--out", dir["user"]);
        Assert.Equal(1, code);
        Assert.Contains("part-00000.parquet", stderr);
        Assert.Contains("did not write", stderr);
        Assert.Equal(["part-00000.parquet", "part-00007.parquet"], Directory.GetFiles(dir["user"]).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal("mine", File.ReadAllText(dir["user/part-00000.parquet"]));

        // A user's file beside our own earlier output survives a rerun that removes our stale shards.
        (code, _, stderr) = CliRunner.Run("data", "prepare", "text", dir["in"], "--out", dir["out"], "--shards", "3", "--rows-per-group", "1");
        Assert.True(code == 0, stderr);
        File.WriteAllText(dir["out/notes.txt"], "keep");
        (code, _, stderr) = CliRunner.Run("data", "prepare", "text", dir["in"], "--out", dir["out"], "--shards", "1");
        Assert.True(code == 0, stderr);
        Assert.Equal(["manifest.json", "notes.txt", "part-00000.parquet"], Directory.GetFiles(dir["out"]).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task JsonlFieldsGetInferredTypes()
    {
        using var dir = new TempDir();
        File.WriteAllLines(dir["d.jsonl"],
        [
            """{"text": "a speech", "year": 1790, "party": "None", "score": 1, "flag": true, "nested": {"x": 1}}""",
            "",
            """{"text": "another", "year": 1791, "party": null, "score": 2.5, "flag": false}""",
            """{"year": 1792, "party": "Federalist"}""",
        ]);
        var (code, stdout, stderr) = CliRunner.Run("data", "prepare", "jsonl", dir["d.jsonl"], "--out", dir["out"]);
        Assert.True(code == 0, stderr);
        Assert.Contains("text:string, year:int64, party:string, score:double, flag:int64", stdout);
        var (schema, _, rows) = await ReadAll(dir["out/part-00000.parquet"]);
        Assert.Equal(["text", "year", "party", "score", "flag"], schema.GetDataFields().Select(f => f.Name));
        Assert.Equal(new object?[] { "a speech", 1790L, "None", 1.0, 1L }, rows[0]);
        Assert.Equal(new object?[] { null, 1792L, "Federalist", null, null }, rows[2]);

        (code, stdout, stderr) = CliRunner.Run("data", "prepare", "jsonl", dir["d.jsonl"], "--out", dir["out2"], "--fields", "year");
        Assert.True(code == 0, stderr);
        Assert.Contains("columns text:string, year:int64 ", stdout + " ");
    }

    [Fact]
    public void BadJsonlLinesNameFileAndLine()
    {
        using var dir = new TempDir();
        File.WriteAllLines(dir["bad.jsonl"], ["""{"text": "ok", "n": 1}""", """{"text": "ok", "n": 2}""", """{"text": "broken", "n": """]);
        var (code, _, stderr) = CliRunner.Run("data", "prepare", "jsonl", dir["bad.jsonl"], "--out", dir["out"]);
        Assert.Equal(1, code);
        Assert.Contains("bad.jsonl:3", stderr);

        File.WriteAllLines(dir["bad.jsonl"], ["""{"text": "ok", "n": 1}""", """{"text": "ok", "n": "two"}"""]);
        (code, _, stderr) = CliRunner.Run("data", "prepare", "jsonl", dir["bad.jsonl"], "--out", dir["out"]);
        Assert.Equal(1, code);
        Assert.Contains("bad.jsonl:2", stderr);
        Assert.Contains("'n'", stderr);

        (code, _, stderr) = CliRunner.Run("data", "prepare", "jsonl", dir["bad.jsonl"], "--out", dir["out"], "--text-field", "body");
        Assert.Equal(1, code);
        Assert.Contains("--text-field", stderr);
    }
}
