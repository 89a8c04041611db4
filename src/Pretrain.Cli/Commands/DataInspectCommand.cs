using System.Globalization;
using Pretrain.Data.Inspection;
using Pretrain.Data.Sources;

namespace Pretrain.Cli.Commands;

/// <summary>
/// `pretrain data inspect FILE|GLOB... [--rows N] [--groups N]`: per Parquet file, the writer, schema, rows, row groups
/// (rows, compressed bytes, codec and page version per column) and the first values of the first string or
/// list&lt;int&gt; column. A broken file ends the command with one line naming it (exit 1).
/// </summary>
public static class DataInspectCommand
{
    public const string Usage = "usage: pretrain data inspect FILE|DIR|GLOB... [--rows N] [--groups N]";

    public static int Execute(ArgList args, TextWriter stdout)
    {
        var patterns = args.Positionals.Skip(1).ToList();
        int rows = args.Int("--rows", 3), groups = args.Int("--groups", 8);
        args.RejectUnknown();
        if (patterns.Count == 0) throw new UsageException(Usage);
        if (rows < 0 || groups < 0) throw new UsageException("--rows and --groups must be at least 0.");

        var files = FileResolver.Resolve(patterns, "pretrain data inspect");
        for (int i = 0; i < files.Count; i++)
        {
            if (i > 0) stdout.WriteLine();
            Print(ParquetInspector.Inspect(files[i], rows), groups, stdout);
        }

        return 0;
    }

    private static void Print(ParquetFileSummary s, int maxGroups, TextWriter o)
    {
        o.WriteLine(s.Path);
        o.WriteLine($"  writer      {s.CreatedBy ?? "(not recorded)"}");
        o.WriteLine($"  rows        {s.Rows.ToString("N0", CultureInfo.InvariantCulture)} in {s.RowGroups.Count} row group(s), " +
            $"{Bytes(s.RowGroups.Sum(g => g.CompressedBytes))} compressed");
        o.WriteLine("  schema");
        foreach (var c in s.Schema) o.WriteLine($"    {c.Name}: {c.Type}");

        // Codec and page version per column over the whole file (usually one each).
        o.WriteLine("  columns");
        foreach (var column in s.RowGroups.SelectMany(g => g.Chunks).GroupBy(c => c.Column))
        {
            string codecs = string.Join("/", column.Select(c => c.Codec).Distinct());
            string pages = string.Join("/", column.Select(c => c.Pages).Distinct());
            string encodings = string.Join(" ", column.SelectMany(c => c.Encodings).Distinct());
            o.WriteLine($"    {column.Key}: {codecs}, {pages} pages, {encodings}");
        }

        o.WriteLine("  row groups");
        foreach (var (g, i) in s.RowGroups.Take(maxGroups).Select((g, i) => (g, i)))
        {
            o.WriteLine($"    {i,4}: {g.Rows.ToString("N0", CultureInfo.InvariantCulture)} rows, {Bytes(g.CompressedBytes)}, " +
                string.Join(", ", g.Chunks.Select(c => $"{c.Column} {c.Codec}")));
        }

        if (s.RowGroups.Count > maxGroups) o.WriteLine($"    … {s.RowGroups.Count - maxGroups} more (--groups N shows more)");

        if (s.SampleColumn is null)
        {
            o.WriteLine("  sample      (no string or list<int> column)");
            return;
        }

        o.WriteLine($"  sample      {s.SampleColumn}");
        foreach (var v in s.Sample) o.WriteLine($"    {v}");
    }

    private static string Bytes(long n) => n switch
    {
        < 1024 => $"{n} B",
        < 1024 * 1024 => $"{n / 1024.0:0.0} KiB",
        < 1024L * 1024 * 1024 => $"{n / (1024.0 * 1024):0.0} MiB",
        _ => $"{n / (1024.0 * 1024 * 1024):0.00} GiB",
    };
}
