using Pretrain.Data.Writing;

namespace Pretrain.Cli.Commands;

/// <summary>
/// `pretrain data prepare text FILES|DIRS... --out DIR [--rows-per-group N] [--shards N] [--split-on paragraph|line|file]`
/// and `pretrain data prepare jsonl FILES... --out DIR [--text-field text] [--fields a,b,...] [--rows-per-group N] [--shards N]`:
/// text corpora → Parquet shards (<c>part-00000.parquet</c>, …) with a <c>text</c> column (plus typed JSONL fields).
/// </summary>
public static class DataPrepareTextCommand
{
    public const string Usage =
        "usage: pretrain data prepare text FILES|DIRS... --out DIR [--rows-per-group N] [--shards N] [--split-on paragraph|line|file]\n" +
        "       pretrain data prepare jsonl FILES|DIRS... --out DIR [--text-field text] [--fields a,b,...] [--rows-per-group N] [--shards N]";

    /// <summary>Runs `data prepare text|jsonl`; <paramref name="args"/> positionals start with "prepare".</summary>
    public static int Execute(ArgList args, TextWriter stdout)
    {
        var p = args.Positionals;
        string kind = p.Count > 1 ? p[1] : "";
        var inputs = p.Skip(2).ToList();
        string outDir = args.Option("--out") ?? throw new UsageException($"pretrain data prepare {kind} needs --out DIR.\n{Usage}");
        int rowsPerGroup = args.Int("--rows-per-group", 1000), shards = args.Int("--shards", 1);
        if (rowsPerGroup < 1 || shards < 1)
        {
            throw new UsageException("--rows-per-group and --shards must be at least 1.");
        }

        switch (kind)
        {
            case "text":
            {
                string splitOn = args.Option("--split-on") ?? "paragraph";
                args.RejectUnknown();
                var split = splitOn switch
                {
                    "paragraph" => TextSplit.Paragraph,
                    "line" => TextSplit.Line,
                    "file" => TextSplit.File,
                    _ => throw new UsageException($"--split-on must be paragraph, line or file, got '{splitOn}'."),
                };
                RequireInputs(inputs, kind);
                var files = TextCorpus.ExpandInputs(inputs);
                using var staged = new StagedOutput(outDir);   // nothing lands in --out until every shard is written
                var (written, rows) = TextCorpus.Prepare(files, staged.Staging, split, rowsPerGroup, shards);
                written = staged.Commit(written);
                Report(stdout, written, rows, rowsPerGroup, $"{files.Count} text file(s), one row per {splitOn}");
                return 0;
            }

            case "jsonl":
            {
                string textField = args.Option("--text-field") ?? "text";
                var fields = args.Option("--fields")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                args.RejectUnknown();
                RequireInputs(inputs, kind);
                var files = TextCorpus.ExpandInputs(inputs, "*.jsonl");
                var table = JsonlTable.Read(files, textField, fields);
                using var staged = new StagedOutput(outDir);
                var written = staged.Commit(table.Write(staged.Staging, rowsPerGroup, shards));
                string columns = string.Join(", ", table.Columns.Select(c => $"{c.Name}:{c.Type.ToString().ToLowerInvariant()}"));
                Report(stdout, written, table.Rows.Count, rowsPerGroup, $"{files.Count} JSONL file(s); columns {columns}");
                return 0;
            }

            default:
                throw new UsageException($"pretrain data prepare: kind '{kind}' is not handled here (text, jsonl).\n{Usage}");
        }
    }

    private static void RequireInputs(List<string> inputs, string kind)
    {
        if (inputs.Count == 0)
        {
            throw new UsageException($"pretrain data prepare {kind} needs at least one input file or folder.\n{Usage}");
        }
    }

    private static void Report(TextWriter stdout, IReadOnlyList<string> written, int rows, int rowsPerGroup, string what)
    {
        foreach (string f in written)
        {
            stdout.WriteLine(f);
        }

        stdout.WriteLine($"wrote {rows} rows from {what} in {written.Count} file(s), {rowsPerGroup} rows per row group");
    }
}
