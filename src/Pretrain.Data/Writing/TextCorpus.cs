using System.Text.RegularExpressions;

namespace Pretrain.Data.Writing;

/// <summary>Reads text files (UTF-8; a folder means every *.txt below it, in name order) as rows for Parquet.</summary>
public static partial class TextCorpus
{
    [GeneratedRegex(@"\n[ \t]*\n")]
    private static partial Regex BlankLine();

    /// <summary>The files <paramref name="inputs"/> name: files as given, folders expanded to their *.txt files.</summary>
    /// <exception cref="DataException">An input does not exist, or a folder holds no *.txt file.</exception>
    public static IReadOnlyList<string> ExpandInputs(IEnumerable<string> inputs, string pattern = "*.txt")
    {
        var files = new List<string>();
        foreach (string input in inputs)
        {
            if (System.IO.File.Exists(input))
            {
                files.Add(Path.GetFullPath(input));
            }
            else if (Directory.Exists(input))
            {
                var found = Directory.EnumerateFiles(input, pattern, SearchOption.AllDirectories).Select(Path.GetFullPath).Order(StringComparer.Ordinal).ToList();
                if (found.Count == 0)
                {
                    throw new DataException($"{Path.GetFullPath(input)} has no {pattern} files below it.");
                }

                files.AddRange(found);
            }
            else
            {
                throw new DataException($"{input} does not exist (relative paths are taken from '{Directory.GetCurrentDirectory()}').");
            }
        }

        if (files.Count == 0)
        {
            throw new DataException("no input files given.");
        }

        return files;
    }

    /// <summary>Rows of <paramref name="files"/> in order; empty rows are dropped. Line ends become "\n".</summary>
    public static IEnumerable<string> Rows(IEnumerable<string> files, TextSplit split)
    {
        foreach (string file in files)
        {
            string text;
            try
            {
                text = System.IO.File.ReadAllText(file).Replace("\r\n", "\n", StringComparison.Ordinal);
            }
            catch (IOException e)
            {
                throw new DataException($"{file} could not be read: {e.Message}", e);
            }

            IEnumerable<string> rows = split switch
            {
                TextSplit.Paragraph => BlankLine().Split(text).Select(p => p.Trim()),
                TextSplit.Line => text.Split('\n').Select(l => l.TrimEnd()),
                _ => [text.Trim()],
            };
            foreach (string row in rows)
            {
                if (row.Length > 0)
                {
                    yield return row;
                }
            }
        }
    }

    /// <summary>Writes the rows of <paramref name="files"/> as a <c>text</c> column into Parquet shards.</summary>
    public static (IReadOnlyList<string> Files, int Rows) Prepare(IEnumerable<string> files, string outDir, TextSplit split, int rowsPerGroup,
        int shards, string column = "text")
    {
        var rows = Rows(files, split).Select(r => new object?[] { r }).ToList();
        var written = ShardedParquetWriter.Write(outDir, [new TableColumn(column, ColumnType.String)], rows, rowsPerGroup, shards);
        return (written, rows.Count);
    }
}
