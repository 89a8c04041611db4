using System.Text.Json;

namespace Pretrain.Data.Writing;

/// <summary>
/// Writes image rows into <c>part-00000.parquet</c>, <c>part-00001.parquet</c>… under one folder (each shard atomic),
/// removes older <c>part-*.parquet</c> shards that this run did not write, and writes <c>classes.json</c> (a JSON array
/// of class names, index = label) when names are given.
/// </summary>
public static class ImageShards
{
    /// <summary>Shard file name of shard <paramref name="index"/>.</summary>
    public static string Name(int index) => $"part-{index:D5}.parquet";

    /// <param name="shards">Rows of each shard, produced lazily (one shard in memory at a time).</param>
    public static PreparedDataset Write(string outDir, IEnumerable<IReadOnlyList<ImageRow>> shards, int rowsPerGroup, IReadOnlyList<string>? classes)
    {
        Directory.CreateDirectory(outDir);
        var files = new List<string>();
        long rows = 0;
        foreach (var shard in shards)
        {
            string path = Path.Combine(outDir, Name(files.Count));
            ImageParquetWriter.Write(path, shard, rowsPerGroup);
            files.Add(Path.GetFullPath(path));
            rows += shard.Count;
        }

        var written = files.Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        foreach (string stale in Directory.EnumerateFiles(outDir, "part-*.parquet"))
        {
            if (!written.Contains(Path.GetFileName(stale)))
            {
                File.Delete(stale);
            }
        }

        string classesPath = Path.Combine(outDir, "classes.json");
        if (classes is not null)
        {
            string tmp = $"{classesPath}.{Environment.ProcessId}.tmp";
            File.WriteAllText(tmp, JsonSerializer.Serialize(classes) + "\n");
            File.Move(tmp, classesPath, overwrite: true);
        }
        else if (File.Exists(classesPath))
        {
            File.Delete(classesPath);
        }

        return new PreparedDataset(files, rows, classes);
    }
}
