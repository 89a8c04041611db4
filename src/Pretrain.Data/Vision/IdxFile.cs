using System.Buffers.Binary;
using System.IO.Compression;

namespace Pretrain.Data.Vision;

/// <summary>
/// An IDX file (MNIST family): magic 0x00 0x00, a type byte (only 0x08, unsigned byte, is supported), a dimension
/// count, that many big-endian int32 sizes, then the values. Gzip-compressed files (magic 0x1f 0x8b) are read too,
/// whatever their name.
/// </summary>
public sealed class IdxFile
{
    private IdxFile(string path, int[] dimensions, byte[] data)
    {
        Path = path;
        Dimensions = dimensions;
        Data = data;
    }

    public string Path { get; }

    /// <summary>Sizes, outermost first (images: [count, rows, columns]; labels: [count]).</summary>
    public IReadOnlyList<int> Dimensions { get; }

    /// <summary>All values, row-major.</summary>
    public byte[] Data { get; }

    /// <summary>Number of items (the first dimension).</summary>
    public int Count => Dimensions[0];

    /// <summary>Values per item (the product of the other dimensions).</summary>
    public int ItemSize => Dimensions.Skip(1).Aggregate(1, (a, b) => a * b);

    /// <summary>The values of item <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> Item(int index) => Data.AsSpan(index * ItemSize, ItemSize);

    /// <exception cref="DataException">Missing file, bad magic, unsupported type, or a length that does not match the header.</exception>
    public static IdxFile Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new DataException($"{path} does not exist (expected an IDX file such as train-images-idx3-ubyte.gz).");
        }

        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
        {
            try
            {
                using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
                using var plain = new MemoryStream();
                gz.CopyTo(plain);
                bytes = plain.ToArray();
            }
            catch (InvalidDataException e)
            {
                throw new DataException($"{path} is a damaged gzip file ({e.Message}); download it again.", e);
            }
        }

        return Parse(path, bytes);
    }

    /// <summary>Parses IDX bytes (already decompressed); <paramref name="path"/> is only named in messages.</summary>
    public static IdxFile Parse(string path, byte[] bytes)
    {
        if (bytes.Length < 4 || bytes[0] != 0 || bytes[1] != 0)
        {
            throw new DataException($"{path} is not an IDX file (the first two bytes must be 0x00 0x00). Give the -ubyte file, gzipped or not.");
        }

        if (bytes[2] != 0x08)
        {
            throw new DataException(
                $"{path}: IDX value type 0x{bytes[2]:x2} is not supported; only 0x08 (unsigned byte), as in the MNIST family, is.");
        }

        int ndims = bytes[3];
        if (ndims < 1 || bytes.Length < 4 + (4 * ndims))
        {
            throw new DataException($"{path}: IDX header declares {ndims} dimension(s) but the file is {bytes.Length} bytes long; the file is truncated.");
        }

        var dims = new int[ndims];
        long total = 1;
        for (int i = 0; i < ndims; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + (4 * i), 4));
            if (dims[i] < 0)
            {
                throw new DataException($"{path}: IDX dimension {i} is negative ({dims[i]}); the header is damaged.");
            }

            total *= dims[i];
        }

        int offset = 4 + (4 * ndims);
        if (bytes.Length - offset != total)
        {
            throw new DataException(
                $"{path}: IDX header [{string.Join(", ", dims)}] needs {total} value bytes but the file holds {bytes.Length - offset}; " +
                "it is truncated or not an unsigned-byte IDX file. Download it again.");
        }

        return new IdxFile(path, dims, bytes.AsSpan(offset).ToArray());
    }
}
