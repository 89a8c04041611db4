using System.Globalization;
using Parquet;
using Parquet.Schema;
using Pretrain.Data.Sources;

namespace Pretrain.Data.Inspection;

/// <summary>
/// Reads a Parquet file's footer (writer, schema, row groups, codecs, page versions) and samples its first string or
/// list&lt;int&gt; column through <see cref="ParquetTextSource"/>, so the sample takes the same path — ParquetSharp
/// fallback included — that training would.
/// </summary>
public static class ParquetInspector
{
    /// <exception cref="DataException">The file is missing, not Parquet, or unreadable; the message names it.</exception>
    public static ParquetFileSummary Inspect(string path, int sampleRows = 3, int maxChars = 80)
    {
        string? createdBy;
        List<ParquetColumnSummary> schema;
        var groups = new List<ParquetRowGroupSummary>();
        Field? sampled;
        // Magic and footer are checked with the same messages training gives.
        var reader = ParquetTextSource.OpenChecked(path, configKey: "");
        try
        {
            using var stream = File.OpenRead(path);
            var meta = reader.Metadata!;
            createdBy = meta.CreatedBy;
            schema = reader.Schema.Fields.Select(f => new ParquetColumnSummary(f.Name, TypeName(f))).ToList();
            foreach (var group in meta.RowGroups)
            {
                var chunks = group.Columns.Select(c => new ParquetChunkSummary(
                    string.Join('.', c.MetaData!.PathInSchema),
                    c.MetaData.Codec.ToString().ToUpperInvariant(),
                    PageVersion(stream, c.MetaData.DataPageOffset),
                    c.MetaData.Encodings.Select(EncodingName).ToList())).ToList();
                groups.Add(new ParquetRowGroupSummary(group.NumRows, group.Columns.Sum(c => c.MetaData!.TotalCompressedSize), chunks));
            }

            sampled = reader.Schema.Fields.FirstOrDefault(f => IsText(f) || IsTokenList(f));
        }
        finally
        {
            reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        var sample = new List<string>();
        if (sampled is not null && groups.Count > 0)
        {
            var kind = IsText(sampled) ? ParquetColumnKind.Text : ParquetColumnKind.TokenIds;
            using var source = ParquetTextSource.Open([path], sampled.Name, configKey: "", kind);
            int index = source.Units.ToList().FindIndex(u => u.Rows > 0);
            if (index >= 0)
            {
                var first = source.Units[index];
                IEnumerable<string> values = kind == ParquetColumnKind.Text
                    ? source.ReadRowGroupAsync(0, first.RowGroup).GetAwaiter().GetResult().Take(sampleRows).Select(t => t is null ? "null" : Quote(t))
                    : source.ReadTokenRowGroupAsync(0, first.RowGroup).GetAwaiter().GetResult().Take(sampleRows)
                        .Select(ids => ids is null ? "null (or empty)" : $"[{string.Join(", ", ids.Take(16))}{(ids.Length > 16 ? ", …" : "")}] ({ids.Length} ids)");
                sample.AddRange(values.Select(v => Truncate(v, maxChars)));
            }
        }

        return new ParquetFileSummary(path, createdBy, schema, groups.Sum(g => g.Rows), groups, sampled?.Name, sample);
    }

    /// <summary>Readable type: string, int32, list&lt;int64&gt;, struct&lt;a: …&gt;; a trailing '?' marks nullable.</summary>
    public static string TypeName(Field field) => field switch
    {
        DataField d when d.IsArray => $"list<{Scalar(d)}>",
        DataField d => Scalar(d) + (d.IsNullable ? "?" : ""),
        ListField l => $"list<{TypeName(l.Item)}>",
        MapField m => $"map<{TypeName(m.Key)}, {TypeName(m.Value)}>",
        StructField s => $"struct<{string.Join(", ", s.Fields.Select(f => $"{f.Name}: {TypeName(f)}"))}>",
        _ => field.SchemaType.ToString().ToLowerInvariant(),
    };

    private static string Scalar(DataField d) => d.ClrType switch
    {
        var t when t == typeof(string) || t == typeof(ReadOnlyMemory<char>) => "string",
        var t when t == typeof(int) => "int32",
        var t when t == typeof(long) => "int64",
        var t when t == typeof(short) => "int16",
        var t when t == typeof(byte) => "uint8",
        var t when t == typeof(sbyte) => "int8",
        var t when t == typeof(uint) => "uint32",
        var t when t == typeof(ulong) => "uint64",
        var t when t == typeof(float) => "float",
        var t when t == typeof(double) => "double",
        var t when t == typeof(bool) => "bool",
        var t when t == typeof(byte[]) || t == typeof(ReadOnlyMemory<byte>) => "binary",
        var t => t.Name.ToLowerInvariant(),
    };

    private static string EncodingName(Parquet.Meta.Encoding e) => e switch
    {
        Parquet.Meta.Encoding.PLAIN => "PLAIN",
        _ => e.ToString().ToUpperInvariant(),
    };

    private static bool IsText(Field f) =>
        f is DataField { IsArray: false } d && (d.ClrType == typeof(string) || d.ClrType == typeof(ReadOnlyMemory<char>));

    private static bool IsTokenList(Field f) => f switch
    {
        ListField { Item: DataField item } => item.ClrType == typeof(int) || item.ClrType == typeof(long),
        DataField { IsArray: true } d => d.ClrType == typeof(int) || d.ClrType == typeof(long),
        _ => false,
    };

    /// <summary>
    /// A page header is Thrift compact: field 1 (type, i32) comes first as 0x15 then its zigzag varint —
    /// 0 DATA_PAGE, 3 DATA_PAGE_V2.
    /// </summary>
    private static string PageVersion(FileStream stream, long offset)
    {
        if (offset < 0 || offset + 2 > stream.Length)
        {
            return "?";
        }

        Span<byte> head = stackalloc byte[2];
        stream.Seek(offset, SeekOrigin.Begin);
        stream.ReadExactly(head);
        return head[0] != 0x15 ? "?" : (head[1] >> 1) switch
        {
            0 => "v1",
            3 => "v2",
            var t => t.ToString(CultureInfo.InvariantCulture),
        };
    }

    private static string Quote(string text) =>
        "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)
            .Replace("\r", "\\r", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal) + "\"";

    private static string Truncate(string s, int max) => s.Length <= max ? s : string.Concat(s.AsSpan(0, max - 1), "…");
}
