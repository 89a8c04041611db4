using System.Buffers.Binary;

namespace Pretrain.Data.Sources;

/// <summary>
/// A structural check of a local Parquet file's footer (Thrift compact protocol) before Parquet.Net parses it:
/// the footer length must fit the file, and every list, map and binary must fit in the bytes left (a list of n
/// elements takes at least n bytes), nesting at most 64 deep. Parquet.Net trusts declared counts: a fuzzed footer
/// declaring a list of 2^31 elements kept it busy for minutes. Linear in the footer, no allocation sized by it.
/// </summary>
internal static class ParquetThriftCheck
{
    private const int MaxDepth = 64;

    /// <summary>Null when the footer is well-formed as far as sizes go; else what is wrong.</summary>
    public static string? Problem(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        long length = stream.Length;
        if (length < 12)
            return null; // CheckMagic reports it
        Span<byte> tail = stackalloc byte[8];
        stream.Seek(-8, SeekOrigin.End);
        stream.ReadExactly(tail);
        long footerLength = BinaryPrimitives.ReadUInt32LittleEndian(tail);
        if (footerLength > length - 12)
            return $"its footer length ({footerLength:N0} bytes) is larger than the file ({length:N0} bytes)";
        var footer = new byte[footerLength];
        stream.Seek(-8 - footerLength, SeekOrigin.End);
        stream.ReadExactly(footer);
        try
        {
            int position = 0;
            var schema = new List<long>();
            Struct(footer, ref position, 0, schema, null);
            SchemaTree(schema);
            return null;
        }
        catch (InvalidDataException e)
        {
            return $"its footer is damaged ({e.Message})";
        }
    }

    /// <summary>
    /// Walks a struct. At the top (FileMetaData) the schema list (field 2) is read element by element, recording
    /// each SchemaElement's num_children (field 5) into <paramref name="schema"/>.
    /// </summary>
    private static void Struct(byte[] d, ref int p, int depth, List<long>? schema, List<long>? element)
    {
        if (depth > MaxDepth)
            throw new InvalidDataException($"nested more than {MaxDepth} levels");
        long id = 0, children = 0;
        while (true)
        {
            byte header = Byte(d, ref p);
            if (header == 0)
            {
                element?.Add(children);
                return;
            }

            id = header >> 4 == 0 ? Unzig(Varint(d, ref p)) : id + (header >> 4);
            int type = header & 0x0F;
            if (element is not null && id == 5 && type == 5)
            {
                children = Unzig(Varint(d, ref p));
            }
            else if (schema is not null && id == 2 && type == 9)
            {
                byte list = Byte(d, ref p);
                long count = list >> 4 == 15 ? Varint(d, ref p) : list >> 4;
                Fits(d, p, count, "the schema list");
                if ((list & 0x0F) != 12)
                    throw new InvalidDataException("the schema is not a list of elements");
                for (long i = 0; i < count; i++)
                    Struct(d, ref p, depth + 2, null, schema);
            }
            else
            {
                Value(d, ref p, type, depth);
            }
        }
    }

    /// <summary>The flat schema list is a pre-order tree: each element's num_children elements must follow it.</summary>
    private static void SchemaTree(List<long> numChildren)
    {
        if (numChildren.Count == 0)
            throw new InvalidDataException("the schema is empty");
        var pending = new Stack<long>();
        pending.Push(1); // the root
        for (int i = 0; i < numChildren.Count && pending.Count > 0; i++)
        {
            long left = pending.Pop() - 1;
            if (left > 0)
                pending.Push(left);
            long children = numChildren[i];
            if (children < 0 || children > numChildren.Count - i - 1)
                throw new InvalidDataException($"schema element {i} declares {children} children, but {numChildren.Count - i - 1} elements follow");
            if (children > 0)
                pending.Push(children);
            if (pending.Count > MaxDepth)
                throw new InvalidDataException($"the schema is nested more than {MaxDepth} levels");
        }

        if (pending.Count > 0)
            throw new InvalidDataException("the schema list ends before all declared children");
    }

    private static long Unzig(long raw) => (long)((ulong)raw >> 1) ^ -(raw & 1);

    private static void Value(byte[] d, ref int p, int type, int depth)
    {
        switch (type)
        {
            case 1 or 2:
                break;
            case 3:
                Byte(d, ref p);
                break;
            case 4 or 5 or 6:
                Varint(d, ref p);
                break;
            case 7:
                Skip(d, ref p, 8);
                break;
            case 8:
                Skip(d, ref p, Varint(d, ref p));
                break;
            case 9 or 10:
                byte list = Byte(d, ref p);
                long count = list >> 4 == 15 ? Varint(d, ref p) : list >> 4;
                Fits(d, p, count, "a list");
                for (long i = 0; i < count; i++)
                {
                    if ((list & 0x0F) is 1 or 2)
                        Byte(d, ref p);
                    else
                        Value(d, ref p, list & 0x0F, depth + 1);
                }

                break;
            case 11:
                long entries = Varint(d, ref p);
                if (entries == 0)
                    break;
                Fits(d, p, entries * 2, "a map");
                byte kinds = Byte(d, ref p);
                for (long i = 0; i < entries; i++)
                {
                    Value(d, ref p, kinds >> 4, depth + 1);
                    Value(d, ref p, kinds & 0x0F, depth + 1);
                }

                break;
            case 12:
                Struct(d, ref p, depth + 1, null, null);
                break;
            default:
                throw new InvalidDataException($"unknown Thrift type {type} at byte {p}");
        }
    }

    private static void Fits(byte[] d, int p, long count, string what)
    {
        if (count < 0 || count > d.Length - p)
            throw new InvalidDataException($"{what} of {count:N0} elements at byte {p} cannot fit in the {d.Length - p:N0} bytes left");
    }

    private static void Skip(byte[] d, ref int p, long n)
    {
        Fits(d, p, n, "a value");
        p += (int)n;
    }

    private static byte Byte(byte[] d, ref int p) =>
        p < d.Length ? d[p++] : throw new InvalidDataException("it ends in the middle of a value");

    private static long Varint(byte[] d, ref int p)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            byte b = Byte(d, ref p);
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
                return (long)value;
        }

        throw new InvalidDataException($"a varint longer than 10 bytes at byte {p}");
    }
}
