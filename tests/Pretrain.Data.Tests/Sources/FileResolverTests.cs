using Pretrain.Data.Sources;

namespace Pretrain.Data.Tests.Sources;

public sealed class FileResolverTests
{
    private static TempDir Tree()
    {
        var dir = new TempDir();
        foreach (string rel in new[] { "a.parquet", "b.parquet", "notes.txt", "sub/c.parquet", "sub/deep/d.parquet", "sub/e.txt" })
        {
            string path = dir.File(rel);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, "x");
        }

        return dir;
    }

    private static string[] Names(IReadOnlyList<string> paths, TempDir dir) =>
        paths.Select(p => Path.GetRelativePath(dir.Path, p).Replace('\\', '/')).ToArray();

    [Fact]
    public void DirectoryExpandsToParquetRecursivelySorted()
    {
        using var dir = Tree();
        var found = FileResolver.Resolve([dir.Path], "data.train.files");
        Assert.Equal(["a.parquet", "b.parquet", "sub/c.parquet", "sub/deep/d.parquet"], Names(found, dir));
        Assert.All(found, p => Assert.True(Path.IsPathRooted(p)));
    }

    [Fact]
    public void GlobsMatchOneLevelOrAnyDepthAndDeduplicate()
    {
        using var dir = Tree();
        Assert.Equal(["a.parquet", "b.parquet"], Names(FileResolver.Resolve([dir.File("*.parquet")], "x"), dir));
        Assert.Equal(["a.parquet", "b.parquet"], Names(FileResolver.Resolve([dir.File("?.parquet"), dir.File("a.parquet")], "x"), dir));
        Assert.Equal(
            ["a.parquet", "b.parquet", "sub/c.parquet", "sub/deep/d.parquet"],
            Names(FileResolver.Resolve([dir.File("**/*.parquet"), dir.File("a.parquet")], "x"), dir));
        Assert.Equal(["notes.txt", "sub/e.txt"], Names(FileResolver.Resolve([dir.File("**/*.txt")], "x"), dir));
    }

    [Fact]
    public void NoMatchNamesThePatternAndSetting()
    {
        using var dir = Tree();
        string pattern = dir.File("*.arrow");
        var e = Assert.Throws<DataException>(() => FileResolver.Resolve([dir.File("a.parquet"), pattern], "data.train.files"));
        Assert.Contains("data.train.files matched no files", e.Message);
        Assert.Contains(pattern, e.Message);
    }
}
