using System.Buffers.Binary;

namespace Pretrain.Data.Tests.Hostile;

/// <summary>
/// Rewrites integer fields of a Parquet file's footer (Thrift compact protocol) to craft hostile files from valid
/// ones: the footer is walked field by field and copied, with chosen i32/i64 values replaced (their varints may
/// change length, so the footer length is re-written). A field is named by its path of Thrift field ids and list
/// indices: "3" is FileMetaData.num_rows, "4[0].3" the num_rows of row group 0, "4[0].1[0].3.5" the num_values of
/// its first column chunk. Shared by the tests and tools/fuzz (linked there).
/// </summary>
public static class ParquetFooter
{
    /// <summary>Footer bytes, and where they start, of a file ending in [footer][u32 length]PAR1.</summary>
    public static (int Start, byte[] Footer) Split(byte[] file)
    {
        int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(file.Length - 8, 4));
        int start = file.Length - 8 - length;
        return (start, file[start..(file.Length - 8)]);
    }

    /// <summary>The file with its footer replaced (and the footer length updated).</summary>
    public static byte[] Join(byte[] file, int footerStart, byte[] footer)
    {
        var result = new byte[footerStart + footer.Length + 8];
        file.AsSpan(0, footerStart).CopyTo(result);
        footer.CopyTo(result, footerStart);
        BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(footerStart + footer.Length), (uint)footer.Length);
        "PAR1"u8.CopyTo(result.AsSpan(result.Length - 4));
        return result;
    }

    /// <summary>Every integer field of the footer with its path and value, in file order.</summary>
    public static List<(string Path, long Value)> Integers(byte[] footer)
    {
        var found = new List<(string, long)>();
        Walk(footer, (path, value) => { found.Add((path, value)); return null; });
        return found;
    }

    /// <summary>A copy of <paramref name="file"/> with the integer at each path in <paramref name="values"/> replaced.</summary>
    public static byte[] WithIntegers(byte[] file, IReadOnlyDictionary<string, long> values)
    {
        var (start, footer) = Split(file);
        return Join(file, start, Walk(footer, (path, _) => values.TryGetValue(path, out long v) ? v : null));
    }

    /// <summary>Copies a compact-protocol struct, letting <paramref name="replace"/> change integer fields.</summary>
    public static byte[] Walk(byte[] footer, Func<string, long, long?> replace)
    {
        var reader = new Reader(footer);
        var output = new List<byte>(footer.Length + 16);
        CopyStruct(reader, output, "", replace, depth: 0);
        output.AddRange(footer.AsSpan(reader.Position).ToArray()); // anything after the struct, unchanged
        return [.. output];
    }

    private static void CopyStruct(Reader r, List<byte> o, string prefix, Func<string, long, long?> replace, int depth)
    {
        if (depth > 32)
            throw new InvalidDataException("footer nested too deeply");
        short id = 0;
        while (true)
        {
            byte header = r.Byte();
            o.Add(header);
            if (header == 0)
                return;
            int type = header & 0x0F, delta = header >> 4;
            if (delta == 0)
            {
                long raw = r.Varint();
                WriteVarint(o, (ulong)raw);
                id = (short)Unzig(raw);
            }
            else
            {
                id += (short)delta;
            }

            CopyValue(r, o, type, prefix.Length == 0 ? $"{id}" : $"{prefix}.{id}", replace, depth);
        }
    }

    private static void CopyValue(Reader r, List<byte> o, int type, string path, Func<string, long, long?> replace, int depth)
    {
        switch (type)
        {
            case 1 or 2: // bool in the field header
                break;
            case 3:
                o.Add(r.Byte());
                break;
            case 4 or 5 or 6:
                long value = Unzig(r.Varint());
                WriteVarint(o, Zig(replace(path, value) ?? value));
                break;
            case 7:
                o.AddRange(r.Bytes(8));
                break;
            case 8:
                long length = r.Varint();
                WriteVarint(o, (ulong)length);
                o.AddRange(r.Bytes(checked((int)length)));
                break;
            case 9 or 10:
                byte listHeader = r.Byte();
                o.Add(listHeader);
                long count = listHeader >> 4;
                if (count == 15)
                {
                    count = r.Varint();
                    WriteVarint(o, (ulong)count);
                }

                int element = listHeader & 0x0F;
                for (long i = 0; i < count; i++)
                    CopyElement(r, o, element, $"{path}[{i}]", replace, depth);
                break;
            case 11:
                long entries = r.Varint();
                WriteVarint(o, (ulong)entries);
                if (entries == 0)
                    break;
                byte kinds = r.Byte();
                o.Add(kinds);
                for (long i = 0; i < entries; i++)
                {
                    CopyElement(r, o, kinds >> 4, $"{path}{{k{i}}}", replace, depth);
                    CopyElement(r, o, kinds & 0x0F, $"{path}{{v{i}}}", replace, depth);
                }

                break;
            case 12:
                CopyStruct(r, o, path, replace, depth + 1);
                break;
            default:
                throw new InvalidDataException($"unknown compact type {type} at {path}");
        }
    }

    /// <summary>List elements: as field values, except a bool is a whole byte.</summary>
    private static void CopyElement(Reader r, List<byte> o, int type, string path, Func<string, long, long?> replace, int depth)
    {
        if (type is 1 or 2)
            o.Add(r.Byte());
        else
            CopyValue(r, o, type, path, replace, depth);
    }

    private static long Unzig(long raw) => (long)((ulong)raw >> 1) ^ -(raw & 1);

    private static ulong Zig(long value) => (ulong)((value << 1) ^ (value >> 63));

    private static void WriteVarint(List<byte> o, ulong value)
    {
        while (value >= 0x80)
        {
            o.Add((byte)(value | 0x80));
            value >>= 7;
        }

        o.Add((byte)value);
    }

    private sealed class Reader(byte[] data)
    {
        public int Position { get; private set; }

        public byte Byte() => Position < data.Length ? data[Position++] : throw new InvalidDataException("footer ends early");

        public byte[] Bytes(int n)
        {
            if (n < 0 || Position + n > data.Length)
                throw new InvalidDataException("footer ends early");
            Position += n;
            return data[(Position - n)..Position];
        }

        public long Varint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                byte b = Byte();
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                    return (long)value;
            }

            throw new InvalidDataException("varint too long");
        }
    }
}
