using System.Text.Json;

namespace Pretrain.Data.Writing;

/// <summary>
/// Writes image rows into <c>part-00000.parquet</c>, <c>part-00001.parquet</c>… under one folder (each shard atomic),
/// writes <c>classes.json</c> (a JSON array of class names, index = label) when names are given, and lists what it
/// wrote in manifest.json; shards (and classes.json) an earlier write listed there and this one did not write are
/// removed — never a user's files.
/// </summary>
public static class ImageShards
{
    /// <summary>Shard file name of shard <paramref name="index"/>.</summary>
    public static string Name(int index) => $"part-{index:D5}.parquet";

    /// <param name="shards">Rows of each shard, produced lazily (one shard in memory at a time).</param>
    public static PreparedDataset Write(string outDir, IEnumerable<IReadOnlyList<ImageRow>> shards, int rowsPerGroup, IReadOnlyList<string>? classes)
    {
        Directory.CreateDirectory(outDir);
        var earlier = StaleShards.ListedIn(outDir);
        var files = new List<string>();
        long rows = 0;
        foreach (var shard in shards)
        {
            string path = Path.Combine(outDir, Name(files.Count));
            ImageParquetWriter.Write(path, shard, rowsPerGroup);
            files.Add(Path.GetFullPath(path));
            rows += shard.Count;
        }

        StaleShards.Delete(outDir, earlier, files);
        string classesPath = Path.Combine(outDir, "classes.json");
        if (classes is not null)
        {
            string tmp = $"{classesPath}.{Environment.ProcessId}.tmp";
            File.WriteAllText(tmp, JsonSerializer.Serialize(classes) + "\n");
            File.Move(tmp, classesPath, overwrite: true);
        }
        else if (earlier.Contains("classes.json"))
        {
            File.Delete(classesPath);
        }

        StaleShards.Record(outDir, classes is null ? files : [.. files, classesPath]);
        return new PreparedDataset(files, rows, classes);
    }
}
