using Pretrain.Data.Synthetic;

namespace Pretrain.Cli.Commands;

/// <summary>
/// `pretrain data synth text|sft --out DIR`: synthetic Parquet shards with learnable structure (documents, or
/// prompt/response pairs);
/// `pretrain data inspect FILE|GLOB...`: see <see cref="DataInspectCommand"/>;
/// `pretrain data prepare text|jsonl ...`: see <see cref="DataPrepareTextCommand"/>;
/// `pretrain data prepare images|idx ...`: see <see cref="DataPrepareCommand"/>.
/// </summary>
public static class DataCommand
{
    public static int Execute(ArgList args, TextWriter stdout)
    {
        var p = args.Positionals;
        if (p.Count >= 1 && p[0] == "inspect") return DataInspectCommand.Execute(args, stdout);
        if (p.Count >= 2 && p[0] == "prepare" && p[1] is ("text" or "jsonl")) return DataPrepareTextCommand.Execute(args, stdout);
        if (p.Count >= 1 && p[0] == "prepare") return DataPrepareCommand.Execute(args, stdout);
        if (p.Count < 1 || p[0] != "synth") throw new UsageException("usage: pretrain data synth text|sft --out DIR [--rows N] [--shards N] [--rows-per-group N] [--seed S] | pretrain data inspect FILE|DIR|GLOB... [--rows N] [--groups N] | pretrain data prepare text|jsonl|images|idx SRC... --out DIR");
        if (p.Count != 2 || p[1] is not ("text" or "sft")) throw new UsageException($"pretrain data synth: kind '{(p.Count > 1 ? p[1] : "")}' is not supported; supported: text, sft.");
        var outDir = args.Option("--out") ?? throw new UsageException("pretrain data synth needs --out DIR.");
        int rows = args.Int("--rows", 4000), shards = args.Int("--shards", 4), perGroup = args.Int("--rows-per-group", 250), seed = args.Int("--seed", 0);
        args.RejectUnknown();
        if (rows < 1 || shards < 1 || perGroup < 1) throw new UsageException("--rows, --shards and --rows-per-group must be at least 1.");
        using var staged = new StagedOutput(outDir);   // nothing lands in --out until every shard is written
        var files = staged.Commit(p[1] == "sft" ? SyntheticSft.Write(staged.Staging, rows, shards, perGroup, seed) : SyntheticText.Write(staged.Staging, rows, shards, perGroup, seed));
        foreach (var f in files) stdout.WriteLine(f);
        stdout.WriteLine($"wrote {rows} rows in {files.Count} file(s), {perGroup} rows per row group");
        return 0;
    }
}
