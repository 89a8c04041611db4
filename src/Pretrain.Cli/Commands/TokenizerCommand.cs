using System.Diagnostics;
using Pretrain.Core;
using Pretrain.Data;
using Pretrain.Data.Sources;
using Pretrain.Data.Text;

namespace Pretrain.Cli.Commands;

/// <summary>
/// `pretrain tokenizer train FILES|DIRS... --vocab-size N --out DIR [--min-frequency F] [--special TOKEN]... [--column text]`:
/// trains a byte-level BPE vocabulary (<see cref="BpeTrainer"/>) on text files (UTF-8; a folder means every *.txt below
/// it) and Parquet files (their text column), and writes vocab.json + merges.txt + tokenizer_config.json, which
/// recipes load with <c>tokenizer.kind: bpe</c> and <c>tokenizer.path: DIR</c>, plus manifest.json. DIR must be new,
/// empty, or (with --overwrite) an earlier tokenizer of ours (<see cref="OutputFolder"/>): vocab files we did not
/// write are never replaced.
/// </summary>
public static class TokenizerCommand
{
    public const string Usage =
        "usage: pretrain tokenizer train FILES|DIRS... --vocab-size N --out DIR [--overwrite] [--min-frequency F] [--special TOKEN]... [--column text]";

    public static int Execute(ArgList args, TextWriter stdout)
    {
        var p = args.Positionals;
        if (p.Count < 1 || p[0] != "train")
        {
            throw new UsageException(Usage);
        }

        if (p.Count < 2)
        {
            throw new UsageException("pretrain tokenizer train needs at least one text or Parquet file. " + Usage);
        }

        var outDir = args.Option("--out") ?? throw new UsageException("pretrain tokenizer train needs --out DIR. " + Usage);
        int vocabSize = args.Int("--vocab-size", -1);
        int minFrequency = args.Int("--min-frequency", 2);
        var specials = args.Many("--special");
        string column = args.Option("--column") ?? "text";
        bool overwrite = args.Flag("--overwrite");
        args.RejectUnknown();
        if (vocabSize < 0)
        {
            throw new UsageException("pretrain tokenizer train needs --vocab-size N (e.g. 8000). " + Usage);
        }

        if (minFrequency < 1)
        {
            throw new UsageException("--min-frequency must be at least 1.");
        }

        var files = ExpandInputs(p.Skip(1));
        // Checked and locked before training, so a refusal costs nothing; written into a temp folder and moved into place.
        using var output = OutputFolder.Begin(outDir, OutputManifest.Tokenizer, overwrite);
        var sw = Stopwatch.StartNew();
        var tokenizer = BpeTrainer.Train(ReadDocuments(files, column), vocabSize, specials.Count > 0 ? specials : null, minFrequency);
        tokenizer.Save(output.Temp);
        output.Commit();
        stdout.WriteLine($"trained byte-level BPE on {files.Count} file(s) in {sw.Elapsed.TotalSeconds:F1} s: vocabulary {tokenizer.VocabSize} " +
            $"(special tokens {string.Join(", ", tokenizer.SpecialTokens)}), written to {Path.GetFullPath(outDir)}");
        if (tokenizer.VocabSize < vocabSize)
        {
            stdout.WriteLine($"note: stopped at {tokenizer.VocabSize} < {vocabSize}: no pair occurs --min-frequency {minFrequency} times any more; give more text or lower it.");
        }

        return 0;
    }

    private static List<string> ExpandInputs(IEnumerable<string> inputs)
    {
        var files = new List<string>();
        foreach (string input in inputs)
        {
            if (File.Exists(input))
            {
                files.Add(Path.GetFullPath(input));
            }
            else if (Directory.Exists(input))
            {
                var found = Directory.EnumerateFiles(input, "*.txt", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
                if (found.Count == 0)
                {
                    throw new DataException($"{Path.GetFullPath(input)} has no *.txt files below it; give text or Parquet files.");
                }

                files.AddRange(found.Select(Path.GetFullPath));
            }
            else
            {
                throw new DataException($"{input} does not exist (relative paths are taken from '{Directory.GetCurrentDirectory()}').");
            }
        }

        return files;
    }

    private static IEnumerable<string> ReadDocuments(IReadOnlyList<string> files, string column)
    {
        foreach (string file in files)
        {
            if (file.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase))
            {
                using var source = ParquetTextSource.Open([file], column, configKey: "");
                foreach (var unit in source.Units)
                {
                    foreach (string? row in source.ReadRowGroupAsync(unit.File, unit.RowGroup).GetAwaiter().GetResult())
                    {
                        if (!string.IsNullOrEmpty(row))
                        {
                            yield return row;
                        }
                    }
                }
            }
            else
            {
                yield return File.ReadAllText(file);
            }
        }
    }
}
