using System.IO.Compression;
using Pretrain.Data.Vision;

namespace Pretrain.Data.Tests.Vision;

public sealed class IdxFileTests
{
    /// <summary>An IDX ubyte file: magic 0 0 8 ndims, big-endian sizes, then the values.</summary>
    internal static byte[] Idx(int[] dims, byte[] data)
    {
        var bytes = new List<byte> { 0, 0, 0x08, (byte)dims.Length };
        foreach (int d in dims)
        {
            bytes.AddRange([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]);
        }

        bytes.AddRange(data);
        return bytes.ToArray();
    }

    internal static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Fastest))
        {
            gz.Write(data);
        }

        return output.ToArray();
    }

    [Fact]
    public void ReadsImagesAndLabelsPlainAndGzipped()
    {
        using var dir = new TempDir();
        var pixels = Enumerable.Range(0, 3 * 2 * 4).Select(i => (byte)(i * 10)).ToArray();
        File.WriteAllBytes(dir.File("images-idx3-ubyte"), Idx([3, 2, 4], pixels));
        File.WriteAllBytes(dir.File("labels-idx1-ubyte.gz"), Gzip(Idx([3], [7, 0, 9])));

        var images = IdxFile.Read(dir.File("images-idx3-ubyte"));
        Assert.Equal([3, 2, 4], images.Dimensions);
        Assert.Equal(3, images.Count);
        Assert.Equal(8, images.ItemSize);
        Assert.Equal(pixels[8..16], images.Item(1).ToArray());

        var labels = IdxFile.Read(dir.File("labels-idx1-ubyte.gz"));
        Assert.Equal([3], labels.Dimensions);
        Assert.Equal(new byte[] { 7, 0, 9 }, labels.Data);
    }

    [Fact]
    public void BadMagicTypeAndLengthNameTheFile()
    {
        var e1 = Assert.Throws<DataException>(() => IdxFile.Parse("x.idx", [1, 2, 3, 4]));
        Assert.Contains("x.idx", e1.Message);
        Assert.Contains("0x00 0x00", e1.Message);

        var floats = Idx([1], [0, 0, 0, 0]);
        floats[2] = 0x0D;
        var e2 = Assert.Throws<DataException>(() => IdxFile.Parse("f.idx", floats));
        Assert.Contains("0x0d", e2.Message);

        var e3 = Assert.Throws<DataException>(() => IdxFile.Parse("t.idx", Idx([2, 2, 2], [1, 2, 3])));
        Assert.Contains("truncated", e3.Message);
    }
}
