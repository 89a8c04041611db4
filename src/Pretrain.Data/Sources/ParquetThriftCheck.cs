using System.Buffers.Binary;
using System.Globalization;

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
        return Problem(stream);
    }

    /// <summary>Largest footer read (wide files with many row groups have footers of a few MiB).</summary>
    public const int MaxFooterBytes = 256 << 20;

    /// <summary>As <see cref="Problem(string)"/> over a seekable stream of the whole file (an http(s) file's range stream).</summary>
    public static string? Problem(Stream stream)
    {
        long length = stream.Length;
        if (length < 12)
            return null; // CheckMagic reports it
        Span<byte> tail = stackalloc byte[8];
        stream.Seek(-8, SeekOrigin.End);
        stream.ReadExactly(tail);
        long footerLength = BinaryPrimitives.ReadUInt32LittleEndian(tail);
        if (footerLength > length - 12)
            return $"its footer length ({footerLength:N0} bytes) is larger than the file ({length:N0} bytes)";
        if (footerLength > MaxFooterBytes)
            return $"its footer length ({footerLength:N0} bytes) is more than the {MaxFooterBytes:N0} bytes read for a footer";
        var footer = new byte[footerLength];
        stream.Seek(-8 - footerLength, SeekOrigin.End);
        stream.ReadExactly(footer);
        try
        {
            int position = 0;
            var schema = new List<long>();
            Struct(footer, ref position, 0, "FileMetaData", schema);
            SchemaTree(schema);
            return null;
        }
        catch (InvalidDataException e)
        {
            return $"its footer is damaged ({e.Message})";
        }
    }

    /// <summary>
    /// The fields Parquet.Net 6.1 reads in each footer struct, as "Struct id:wire[:element][:Struct] …" (wire types of
    /// the compact protocol: 1 bool, 3 byte, 4 i16, 5 i32, 6 i64, 7 double, 8 binary, 9 list, 12 struct), taken from its
    /// generated reader. That reader reads a known field id whatever wire type the file gives it, so a damaged type
    /// makes it parse the rest of the footer differently from any check: every known field must have its type.
    /// </summary>
    private static readonly string[] Table =
    [
        "SizeStatistics 1:6 2:9:6 3:9:6",
        "BoundingBox 1:7 2:7 3:7 4:7 5:7 6:7 7:7 8:7",
        "GeospatialStatistics 1:12:BoundingBox 2:9:5",
        "Statistics 1:8 2:8 3:6 4:6 5:8 6:8 7:1 8:1",
        "StringType ",
        "UUIDType ",
        "MapType ",
        "ListType ",
        "EnumType ",
        "DateType ",
        "Float16Type ",
        "NullType ",
        "DecimalType 1:5 2:5",
        "MilliSeconds ",
        "MicroSeconds ",
        "NanoSeconds ",
        "TimeUnit 1:12:MilliSeconds 2:12:MicroSeconds 3:12:NanoSeconds",
        "TimestampType 1:1 2:12:TimeUnit",
        "TimeType 1:1 2:12:TimeUnit",
        "IntType 1:3 2:1",
        "JsonType ",
        "BsonType ",
        "VariantType 1:3",
        "GeometryType 1:8",
        "GeographyType 1:8 2:5",
        "LogicalType 1:12:StringType 2:12:MapType 3:12:ListType 4:12:EnumType 5:12:DecimalType 6:12:DateType 7:12:TimeType 8:12:TimestampType 10:12:IntType 11:12:NullType 12:12:JsonType 13:12:BsonType 14:12:UUIDType 15:12:Float16Type 16:12:VariantType 17:12:GeometryType 18:12:GeographyType",
        "SchemaElement 1:5 2:5 3:5 4:8 5:5 6:5 7:5 8:5 9:5 10:12:LogicalType",
        "KeyValue 1:8 2:8",
        "SortingColumn 1:5 2:1 3:1",
        "PageEncodingStats 1:5 2:5 3:5",
        "ColumnMetaData 1:5 2:9:5 3:9:8 4:5 5:6 6:6 7:6 8:9:12:KeyValue 9:6 10:6 11:6 12:12:Statistics 13:9:12:PageEncodingStats 14:6 15:5 16:12:SizeStatistics 17:12:GeospatialStatistics",
        "EncryptionWithFooterKey ",
        "EncryptionWithColumnKey 1:9:8 2:8",
        "ColumnCryptoMetaData 1:12:EncryptionWithFooterKey 2:12:EncryptionWithColumnKey",
        "ColumnChunk 1:8 2:6 3:12:ColumnMetaData 4:6 5:5 6:6 7:5 8:12:ColumnCryptoMetaData 9:8",
        "RowGroup 1:9:12:ColumnChunk 2:6 3:6 4:9:12:SortingColumn 5:6 6:6 7:4",
        "TypeDefinedOrder ",
        "ColumnOrder 1:12:TypeDefinedOrder",
        "AesGcmV1 1:8 2:8 3:1",
        "AesGcmCtrV1 1:8 2:8 3:1",
        "EncryptionAlgorithm 1:12:AesGcmV1 2:12:AesGcmCtrV1",
        "FileMetaData 1:5 2:9:12:SchemaElement 3:6 4:9:12:RowGroup 5:9:12:KeyValue 6:8 7:9:12:ColumnOrder 8:12:EncryptionAlgorithm 9:8"
    ];

    private static readonly Dictionary<string, Dictionary<long, (int Wire, int Element, string? Struct)>> Known = Table
        .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        .ToDictionary(
            words => words[0],
            words => words.Skip(1).Select(w => w.Split(':')).ToDictionary(
                f => long.Parse(f[0], CultureInfo.InvariantCulture),
                f => (int.Parse(f[1], CultureInfo.InvariantCulture),
                    f[1] == "9" ? int.Parse(f[2], CultureInfo.InvariantCulture) : 0,
                    f[1] == "12" ? f[2] : f.Length > 3 ? f[3] : null)));

    /// <summary>
    /// Walks a struct of type <paramref name="name"/> (null: a struct Parquet.Net skips, walked without types).
    /// Records each SchemaElement's num_children (field 5) into <paramref name="schema"/>. A row group must list its
    /// columns, a column chunk have metadata, the metadata a path in the schema (Parquet.Net dereferences them).
    /// </summary>
    private static void Struct(byte[] d, ref int p, int depth, string? name, List<long> schema)
    {
        if (depth > MaxDepth)
            throw new InvalidDataException($"nested more than {MaxDepth} levels");
        var fields = name is null ? null : Known[name];
        long id = 0, children = 0;
        bool required = name is not ("RowGroup" or "ColumnChunk" or "ColumnMetaData");
        while (true)
        {
            int at = p;
            byte header = Byte(d, ref p);
            if (header == 0)
            {
                if (!required)
                    throw new InvalidDataException($"a {Describe(name)} ending at byte {at} lacks its {Missing(name)}");
                if (name == "SchemaElement")
                    schema.Add(children);
                return;
            }

            id = FieldId(d, ref p, header, id, at);
            int type = header & 0x0F;
            if (fields is null || !fields.TryGetValue(id, out var spec))
            {
                Value(d, ref p, type, depth);
                continue;
            }

            if (spec.Wire == 1 ? type is not (1 or 2) : type != spec.Wire)
                throw new InvalidDataException($"field {id} of a {name} at byte {at} has Thrift type {type}, not {spec.Wire}");
            if (name == "SchemaElement" && id == 5)
            {
                children = Unzig(Varint(d, ref p));
            }
            else if (spec.Wire == 12)
            {
                Struct(d, ref p, depth + 1, spec.Struct, schema);
            }
            else if (spec.Wire == 9)
            {
                byte list = Byte(d, ref p);
                long count = list >> 4 == 15 ? Varint(d, ref p) : list >> 4;
                Fits(d, p, count, $"field {id} of a {name}");
                if ((list & 0x0F) != spec.Element)
                    throw new InvalidDataException($"field {id} of a {name} at byte {at} is a list of Thrift type {list & 0x0F}, not {spec.Element}");
                for (long i = 0; i < count; i++)
                {
                    if (spec.Element == 12)
                        Struct(d, ref p, depth + 2, spec.Struct, schema);
                    else
                        Value(d, ref p, spec.Element, depth + 1);
                }
            }
            else
            {
                Value(d, ref p, type, depth);
            }

            required |= (name, id) is ("RowGroup", 1) or ("ColumnChunk", 3) or ("ColumnMetaData", 3);
        }
    }

    private static string Describe(string? name) => name switch
    {
        "RowGroup" => "row group",
        "ColumnChunk" => "column chunk",
        _ => "column's metadata",
    };

    private static string Missing(string? name) => name switch
    {
        "RowGroup" => "column list",
        "ColumnChunk" => "metadata",
        _ => "path in the schema",
    };

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
            case 9:
                byte list = Byte(d, ref p);
                long count = list >> 4 == 15 ? Varint(d, ref p) : list >> 4;
                Fits(d, p, count, "a list");
                if ((list & 0x0F) is 1 or 2)
                    throw new InvalidDataException($"a list of bools at byte {p}"); // Parquet.Net skips one without reading its bytes
                for (long i = 0; i < count; i++)
                    Value(d, ref p, list & 0x0F, depth + 1);

                break;
            case 12:
                SkippedStruct(d, ref p);
                break;
            case 10 or 11:
                throw new InvalidDataException($"a Thrift {(type == 10 ? "set" : "map")} at byte {p}, which Parquet.Net cannot skip");
            default:
                throw new InvalidDataException($"unknown Thrift type {type} at byte {p}");
        }
    }

    /// <summary>
    /// A field header's id as Parquet.Net 6.1 reads it: the previous id plus the header's delta, or a zigzag i16 after
    /// the header. Parquet.Net keeps ids in a 16-bit short and wraps; an id outside that range is refused rather than
    /// read as another field.
    /// </summary>
    private static long FieldId(byte[] d, ref int p, byte header, long previous, int at)
    {
        long id = header >> 4 == 0 ? Unzig(Varint(d, ref p)) : previous + (header >> 4);
        if (id is < short.MinValue or > short.MaxValue)
            throw new InvalidDataException($"field id {id} at byte {at} is outside the 16-bit range of Thrift field ids");
        return id;
    }

    /// <summary>
    /// An unknown struct-typed field, skipped the way Parquet.Net 6.1's <c>SkipField</c> skips it: it reads the field
    /// headers up to a stop byte but not the fields' values, so the values' bytes are read as further headers. Walking
    /// the struct properly instead made this check and Parquet.Net disagree on where the struct ends, and Parquet.Net
    /// then read the rest of the footer differently (a column chunk without metadata: NullReference in
    /// <c>InitRowGroupReaders</c>/<c>GetPath</c>). Following Parquet.Net, the fields after it are checked as Parquet.Net
    /// will read them.
    /// </summary>
    private static void SkippedStruct(byte[] d, ref int p)
    {
        long id = 0;
        while (true)
        {
            int at = p;
            byte header = Byte(d, ref p);
            if (header == 0)
                return;
            id = FieldId(d, ref p, header, id, at);
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
