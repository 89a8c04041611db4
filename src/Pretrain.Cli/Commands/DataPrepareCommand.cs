using System.Globalization;
using Pretrain.Data.Writing;

namespace Pretrain.Cli.Commands;

/// <summary>
/// `pretrain data prepare KIND SRC... --out DIR [--rows-per-group N]`: converts real corpora into Parquet shards
/// (<c>part-00000.parquet</c>…) that recipes read.
/// <list type="bullet">
/// <item><c>images DIR</c>: one subfolder per class → {bytes, path} image struct + int64 label (classes by sorted folder
/// name, written to classes.json), rows shuffled with <c>--seed</c>.</item>
/// <item><c>idx IMAGES LABELS</c>: IDX files (gz or not, e.g. Fashion-MNIST) → gray PNGs + int64 labels, in IDX order;
/// <c>--classes a,b,…</c> writes classes.json.</item>
/// </list>
/// </summary>
public static class DataPrepareCommand
{
    public const string Usage =
        "usage: pretrain data prepare images DIR --out OUT [--rows-per-group N] [--rows-per-file N] [--seed S]\n" +
        "       pretrain data prepare idx IMAGES.idx[.gz] LABELS.idx[.gz] --out OUT [--rows-per-group N] [--rows-per-file N] [--classes a,b,...]";

    /// <summary>Kinds handled here; the default branch lists them.</summary>
    public static readonly IReadOnlyList<string> Kinds = ["text", "jsonl", "images", "idx"];

    public static int Execute(ArgList args, TextWriter stdout)
    {
        var p = args.Positionals; // p[0] == "prepare"
        if (p.Count < 2)
        {
            throw new UsageException(Usage);
        }

        var sources = p.Skip(2).ToList();
        string kind = p[1];
        PreparedDataset result = kind switch
        {
            "images" => Images(args, sources),
            "idx" => Idx(args, sources),
            _ => throw new UsageException($"pretrain data prepare: kind '{kind}' is not supported; supported: {string.Join(", ", Kinds)}.\n{Usage}"),
        };

        foreach (string file in result.Files)
        {
            stdout.WriteLine(file);
        }

        string classes = result.Classes is null ? "" : $", {result.Classes.Count} classes in classes.json";
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {result.Rows} rows in {result.Files.Count} file(s){classes}"));
        return 0;
    }

    private static PreparedDataset Images(ArgList args, List<string> sources)
    {
        var (outDir, perGroup, perFile) = Common(args);
        int seed = args.Int("--seed", 0);
        args.RejectUnknown();
        if (sources.Count != 1)
        {
            throw new UsageException($"pretrain data prepare images takes one folder (one subfolder per class), got {sources.Count}.\n{Usage}");
        }

        using var staged = new StagedOutput(outDir);
        var result = ImageFolderConverter.Convert(sources[0], staged.Staging, perGroup, perFile, seed);
        return result with { Files = staged.Commit(result.Files) };
    }

    private static PreparedDataset Idx(ArgList args, List<string> sources)
    {
        var (outDir, perGroup, perFile) = Common(args);
        var classes = args.Option("--classes")?.Split(',', StringSplitOptions.TrimEntries);
        args.RejectUnknown();
        if (sources.Count != 2)
        {
            throw new UsageException($"pretrain data prepare idx takes an images file and a labels file, got {sources.Count} path(s).\n{Usage}");
        }

        if (classes is not null && classes.Any(string.IsNullOrEmpty))
        {
            throw new UsageException("--classes needs comma-separated, non-empty names (index = label).");
        }

        using var staged = new StagedOutput(outDir);
        var result = IdxConverter.Convert(sources[0], sources[1], staged.Staging, perGroup, perFile, classes);
        return result with { Files = staged.Commit(result.Files) };
    }

    private static (string Out, int PerGroup, int PerFile) Common(ArgList args)
    {
        string outDir = args.Option("--out") ?? throw new UsageException($"pretrain data prepare needs --out DIR.\n{Usage}");
        int perGroup = args.Int("--rows-per-group", 1000), perFile = args.Int("--rows-per-file", 50_000);
        if (perGroup < 1 || perFile < 1)
        {
            throw new UsageException("--rows-per-group and --rows-per-file must be at least 1.");
        }

        return (outDir, perGroup, perFile);
    }
}
