using System.IO.Compression;
using System.Text.Json;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sources;
using Pretrain.Data.Vision;
using SkiaSharp;

namespace Pretrain.Cli.Tests;

/// <summary>`pretrain data prepare images|idx`: image folders and IDX files → Parquet image shards that ImageStream reads.</summary>
[Collection("torch")]   // CLI tests share one process; run them one at a time like the torch tests
public sealed class DataPrepareTests
{
    private static byte[] Idx(int[] dims, byte[] data)
    {
        var bytes = new List<byte> { 0, 0, 0x08, (byte)dims.Length };
        foreach (int d in dims) bytes.AddRange([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]);
        bytes.AddRange(data);
        return bytes.ToArray();
    }

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Fastest)) gz.Write(data);
        return output.ToArray();
    }

    private static List<ImageSample> ReadAll(string dir, bool labelled = true)
    {
        var files = FileResolver.Resolve([Path.Combine(dir, "*.parquet")], "test");
        using var stream = new ImageStream(new ImageStreamOptions { Files = files, Shuffle = false, MaxEpochs = 1, LabelColumn = labelled ? "label" : null });
        var samples = new List<ImageSample>();
        while (stream.TryNext(out var s, out _)) samples.Add(s);
        return samples;
    }

    [Fact]
    public void IdxToParquetKeepsPixelsLabelsAndOrder()
    {
        using var dir = new TempDir();
        const int N = 7, H = 3, W = 4;
        var pixels = Enumerable.Range(0, N * H * W).Select(i => (byte)(i * 5 % 256)).ToArray();
        var labels = Enumerable.Range(0, N).Select(i => (byte)(i % 3)).ToArray();
        File.WriteAllBytes(dir["images-idx3-ubyte.gz"], Gzip(Idx([N, H, W], pixels)));
        File.WriteAllBytes(dir["labels-idx1-ubyte"], Idx([N], labels));

        var (code, output, err) = CliRunner.Run("data", "prepare", "idx", dir["images-idx3-ubyte.gz"], dir["labels-idx1-ubyte"],
            "--out", dir["out"], "--rows-per-group", "3", "--rows-per-file", "5", "--classes", "a,b,c");
        Assert.True(code == 0, err);
        Assert.Contains("wrote 7 rows in 2 file(s), 3 classes", output);
        Assert.Equal(["a", "b", "c"], JsonSerializer.Deserialize<string[]>(File.ReadAllText(dir["out/classes.json"]))!);
        using (var source = ParquetImageSource.Open([dir["out/part-00000.parquet"]]))
        {
            Assert.Equal([3L, 2], source.Units.Select(u => u.Rows)); // 5 rows in groups of 3
        }

        var samples = ReadAll(dir["out"]);
        Assert.Equal(N, samples.Count);
        for (int i = 0; i < N; i++)
        {
            Assert.Equal(labels[i], samples[i].Label);
            Assert.Equal((1, H, W), (samples[i].Channels, samples[i].Height, samples[i].Width));
            Assert.Equal(pixels.Skip(i * H * W).Take(H * W).Select(b => b / 255f), samples[i].Pixels);
        }
    }

    [Fact]
    public void ImageFolderGetsSortedClassIdsAndKeepsEncodedBytes()
    {
        using var dir = new TempDir();
        var gray = Enumerable.Repeat((byte)90, 25).ToArray();
        var rgb = Enumerable.Range(0, 5 * 5).SelectMany(_ => new byte[] { 250, 10, 10 }).ToArray();
        Directory.CreateDirectory(dir["src/zebra/sub"]);
        Directory.CreateDirectory(dir["src/apple"]);
        File.WriteAllBytes(dir["src/zebra/z1.png"], ImageCodec.EncodeGray(gray, 5, 5));
        File.WriteAllBytes(dir["src/zebra/sub/z2.jpg"], ImageCodec.EncodeRgb(rgb, 5, 5, SKEncodedImageFormat.Jpeg, 95));
        File.WriteAllBytes(dir["src/apple/a1.png"], ImageCodec.EncodeRgb(rgb, 5, 5));
        File.WriteAllText(dir["src/apple/notes.txt"], "ignored");

        var (code, output, err) = CliRunner.Run("data", "prepare", "images", dir["src"], "--out", dir["out"], "--rows-per-group", "2");
        Assert.True(code == 0, err);
        Assert.Contains("wrote 3 rows in 1 file(s), 2 classes", output);
        Assert.Equal(["apple", "zebra"], JsonSerializer.Deserialize<string[]>(File.ReadAllText(dir["out/classes.json"]))!);
        var samples = ReadAll(dir["out"]);
        Assert.Equal(3, samples.Count);
        Assert.Equal([0L, 1, 1], samples.Select(s => s.Label).Order());
        var zebraGray = Assert.Single(samples, s => s.Channels == 1);
        Assert.Equal(1, zebraGray.Label);
        Assert.All(zebraGray.Pixels, v => Assert.Equal(90 / 255f, v));
        Assert.All(samples.Where(s => s.Channels == 3), s => Assert.InRange(s.Pixels[0], 0.9f, 1f));

        using var source = ParquetImageSource.Open(FileResolver.Resolve([dir["out"]], "test"));
        var paths = source.Units.SelectMany(u => source.ReadRowGroupAsync(u.File, u.RowGroup).GetAwaiter().GetResult().Paths!).ToList();
        Assert.Equal(["apple/a1.png", "zebra/sub/z2.jpg", "zebra/z1.png"], paths.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void AnUndecodableFileInTheFolderIsNamed()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["src/cat"]);
        File.WriteAllBytes(dir["src/cat/ok.png"], ImageCodec.EncodeGray(new byte[4], 2, 2));
        File.WriteAllText(dir["src/cat/broken.png"], "not a png");
        var (code, _, err) = CliRunner.Run("data", "prepare", "images", dir["src"], "--out", dir["out"]);
        Assert.Equal(1, code);
        Assert.Contains("broken.png", err);
        Assert.False(File.Exists(dir["out/part-00000.parquet"]));
    }

    [Fact]
    public void UnknownKindsAndBadArgumentsAreUsageErrors()
    {
        var (code, _, err) = CliRunner.Run("data", "prepare", "video", "x", "--out", "y");
        Assert.Equal(2, code);
        Assert.Contains("kind 'video' is not supported; supported: text, jsonl, images, idx", err);
        (code, _, err) = CliRunner.Run("data", "prepare", "idx", "only-one", "--out", "y");
        Assert.Equal(2, code);
        Assert.Contains("images file and a labels file", err);

        using var dir = new TempDir();
        File.WriteAllBytes(dir["i"], Idx([2, 2, 2], new byte[8]));
        File.WriteAllBytes(dir["l"], Idx([3], new byte[3]));
        (code, _, err) = CliRunner.Run("data", "prepare", "idx", dir["i"], dir["l"], "--out", dir["o"]);
        Assert.Equal(1, code);
        Assert.Contains("2 images", err);
        Assert.Contains("3 labels", err);
    }
}
