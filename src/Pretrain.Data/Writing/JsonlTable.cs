using System.Text.Json;

namespace Pretrain.Data.Writing;

/// <summary>
/// JSON Lines files read as a table: one object per line (blank lines skipped). Columns are the text field, then the
/// fields asked for (default: every other scalar field seen in the first rows, in first-seen order). Each column's
/// type comes from the first <see cref="InferenceRows"/> rows: strings → string; numbers → int64 when all are
/// integers, else double; booleans → int64 0/1. Missing fields and JSON null are nulls. A line that is not a JSON
/// object, or a value that does not fit its column, is an error naming the file and line.
/// </summary>
public sealed class JsonlTable
{
    /// <summary>Rows used to infer column types.</summary>
    public const int InferenceRows = 100;

    private JsonlTable(IReadOnlyList<TableColumn> columns, IReadOnlyList<object?[]> rows)
    {
        Columns = columns;
        Rows = rows;
    }

    public IReadOnlyList<TableColumn> Columns { get; }

    public IReadOnlyList<object?[]> Rows { get; }

    private sealed record Line(string File, int Number, JsonElement Value);

    /// <summary>Reads <paramref name="files"/>.</summary>
    /// <param name="textField">Field holding the text (a string column, first).</param>
    /// <param name="fields">Further fields; null for every scalar field of the first rows.</param>
    /// <exception cref="DataException">Bad JSON, a non-object line, a missing text field, or a value of the wrong type.</exception>
    public static JsonlTable Read(IEnumerable<string> files, string textField = "text", IReadOnlyList<string>? fields = null)
    {
        var lines = new List<Line>();
        foreach (string file in files)
        {
            int number = 0;
            IEnumerable<string> content;
            try
            {
                content = System.IO.File.ReadLines(file);
            }
            catch (IOException e)
            {
                throw new DataException($"{file} could not be read: {e.Message}", e);
            }

            foreach (string text in content)
            {
                number++;
                if (string.IsNullOrWhiteSpace(text))
                {
                    continue;
                }

                JsonElement value;
                try
                {
                    using var doc = JsonDocument.Parse(text);
                    value = doc.RootElement.Clone();
                }
                catch (JsonException e)
                {
                    throw new DataException($"{file}:{number}: not valid JSON ({e.Message}). Each line must be one JSON object; fix or remove the line.", e);
                }

                if (value.ValueKind != JsonValueKind.Object)
                {
                    throw new DataException($"{file}:{number}: expected a JSON object, got {value.ValueKind}. Each line must be one JSON object.");
                }

                lines.Add(new Line(file, number, value));
            }
        }

        if (lines.Count == 0)
        {
            throw new DataException("the JSONL input holds no rows.");
        }

        var sample = lines.Take(InferenceRows).ToList();
        if (!sample.Any(l => l.Value.TryGetProperty(textField, out _)))
        {
            string seen = string.Join(", ", sample[0].Value.EnumerateObject().Select(p => p.Name));
            throw new DataException($"{sample[0].File}: no field '{textField}' in the first {sample.Count} rows (fields: {seen}); set --text-field.");
        }

        var names = new List<string> { textField };
        if (fields is { Count: > 0 })
        {
            names.AddRange(fields.Where(f => f != textField).Distinct(StringComparer.Ordinal));
        }
        else
        {
            foreach (var line in sample)
            {
                foreach (var p in line.Value.EnumerateObject())
                {
                    if (!names.Contains(p.Name) && p.Value.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array or JsonValueKind.Null))
                    {
                        names.Add(p.Name);
                    }
                }
            }
        }

        var columns = names.Select((n, i) => new TableColumn(n, i == 0 ? ColumnType.String : Infer(n, sample))).ToList();
        var rows = new List<object?[]>(lines.Count);
        foreach (var line in lines)
        {
            var row = new object?[columns.Count];
            for (int c = 0; c < columns.Count; c++)
            {
                row[c] = line.Value.TryGetProperty(columns[c].Name, out var v) ? Convert(v, columns[c], line) : null;
            }

            rows.Add(row);
        }

        return new JsonlTable(columns, rows);
    }

    private static ColumnType Infer(string name, List<Line> sample)
    {
        ColumnType? type = null;
        Line? first = null;
        foreach (var line in sample)
        {
            if (!line.Value.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            {
                continue;
            }

            ColumnType t = v.ValueKind switch
            {
                JsonValueKind.String => ColumnType.String,
                JsonValueKind.Number => v.TryGetInt64(out _) ? ColumnType.Int64 : ColumnType.Double,
                JsonValueKind.True or JsonValueKind.False => ColumnType.Int64,
                _ => throw new DataException($"{line.File}:{line.Number}: field '{name}' is a JSON {v.ValueKind.ToString().ToLowerInvariant()}; " +
                    "only strings, numbers and booleans become columns. Leave it out of --fields."),
            };
            if (type is null)
            {
                type = t;
                first = line;
            }
            else if (type != t)
            {
                if ((type, t) is (ColumnType.Int64, ColumnType.Double) or (ColumnType.Double, ColumnType.Int64))
                {
                    type = ColumnType.Double;
                }
                else
                {
                    throw new DataException($"{line.File}:{line.Number}: field '{name}' is {Describe(t)} here but {Describe(type.Value)} at " +
                        $"{first!.File}:{first.Number}; a column needs one type. Fix the data or leave the field out of --fields.");
                }
            }
        }

        return type ?? throw new DataException(
            $"field '{name}' does not occur in the first {sample.Count} rows of {sample[0].File}; check the name (--fields / --text-field).");
    }

    private static object? Convert(JsonElement v, TableColumn column, Line line)
    {
        switch (v.ValueKind)
        {
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.String when column.Type == ColumnType.String:
                return v.GetString();
            case JsonValueKind.Number when column.Type == ColumnType.Int64 && v.TryGetInt64(out long l):
                return l;
            case JsonValueKind.Number when column.Type == ColumnType.Double:
                return v.GetDouble();
            case JsonValueKind.True or JsonValueKind.False when column.Type == ColumnType.Int64:
                return v.ValueKind == JsonValueKind.True ? 1L : 0L;
            default:
                string what = v.ValueKind == JsonValueKind.Number ? "a non-integer number" : $"a JSON {v.ValueKind.ToString().ToLowerInvariant()}";
                throw new DataException($"{line.File}:{line.Number}: field '{column.Name}' is {what}, but the column is {Describe(column.Type)} " +
                    $"(inferred from the first {InferenceRows} rows). Fix the line or leave the field out of --fields.");
        }
    }

    private static string Describe(ColumnType t) => t switch
    {
        ColumnType.String => "a string",
        ColumnType.Int64 => "an integer (int64)",
        _ => "a number (double)",
    };

    /// <summary>Writes the table into Parquet shards.</summary>
    public IReadOnlyList<string> Write(string outDir, int rowsPerGroup, int shards) =>
        ShardedParquetWriter.Write(outDir, Columns, Rows, rowsPerGroup, shards);
}
