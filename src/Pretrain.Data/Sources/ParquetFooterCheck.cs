using System.Globalization;
using Parquet.Meta;
using Type = Parquet.Meta.Type;
using Pretrain.Data.Sampling;

namespace Pretrain.Data.Sources;

/// <summary>
/// What a Parquet footer declares is checked before anything is sized by it: each row group's row count must be
/// 0..<see cref="EpochOrder.MaxUnitRows"/> (epoch orders hold one row group's permutation, readers one row group's
/// values), and each column chunk must have metadata with non-negative counts whose bytes lie inside the file.
/// A footer can claim any count in a few bytes (a 124-byte file declaring 4·10⁸ rows cost 1.7 GB before failing).
/// </summary>
internal static class ParquetFooterCheck
{
    /// <summary>Throws a <see cref="DataException"/> naming the file and row group for the first impossible value.</summary>
    /// <param name="fileBytes">Length of the file, or null where unknown (http): byte ranges are then not checked.</param>
    /// <param name="fix">What the user should do, e.g. "remove it from data.train.files".</param>
    public static void Check(string path, FileMetaData? meta, long? fileBytes, string fix)
    {
        if (meta?.RowGroups is not { } groups)
            throw new DataException($"{path}: the footer lists no row groups; it is damaged. Re-write the file or {fix}.");
        if (meta.Schema is not { Count: > 1 })
            throw new DataException($"{path}: the footer declares no columns; it is damaged. Re-write the file or {fix}.");
        if (SchemaProblem(meta.Schema) is { } schemaProblem)
            throw new DataException($"{path}: its schema {schemaProblem}; the footer is damaged or the file uses a layout this reader does not support. Re-write the file or {fix}.");
        var leaves = Leaves(meta.Schema);
        for (int g = 0; g < groups.Count; g++)
        {
            string? problem = Problem(groups[g], fileBytes) ?? ChunkProblem(groups[g], leaves);
            if (problem is not null)
                throw new DataException($"{path}: row group {g} {problem}. Re-write the file or {fix}.");
        }
    }

    /// <summary>
    /// The checks Parquet.Net's schema decoder relies on, walked in its order (a group's children follow it; a LIST
    /// group's mid level and a MAP's key-value container are consumed with it): leaf types 0..7 (BOOLEAN..
    /// FIXED_LEN_BYTE_ARRAY) with no children, a length for FIXED_LEN_BYTE_ARRAY, strings only on BYTE_ARRAY; groups
    /// with children; an implicit list (an unannotated repeated group) with one child; a map container with two.
    /// Without them its decoder throws InvalidOperation, NotSupported or IndexOutOfRange.
    /// </summary>
    private static string? SchemaProblem(List<SchemaElement> schema)
    {
        int index = 1;
        return Level(schema, schema[0].NumChildren ?? 0, ref index, 0);
    }

    private static string? Level(List<SchemaElement> schema, int children, ref int index, int depth)
    {
        if (depth > 64)
            return "is nested more than 64 levels";
        for (int i = 0; i < children && index < schema.Count; i++)
        {
            int at = index;
            var element = schema[at];
            string name = $"element {at} ('{element.Name?.ReplaceLineEndings(" ")}')";
            int owned;
            bool list = element.LogicalType?.LIST is not null || element.ConvertedType == ConvertedType.LIST;
            bool map = element.LogicalType?.MAP is not null || element.ConvertedType is ConvertedType.MAP or ConvertedType.MAP_KEY_VALUE;
            bool implicitList = (at == 0 || schema[at - 1].ConvertedType is null) && element.RepetitionType == FieldRepetitionType.REPEATED && !map;
            if (element.Type is { } type)
            {
                if ((int)type is < 0 or > 7)
                    return $"gives {name} physical type {(int)type}, which does not exist";
                if (element.NumChildren is > 0)
                    return $"gives {name} both a physical type and {element.NumChildren} children";
                if (type == Type.FIXED_LEN_BYTE_ARRAY && element.TypeLength is not > 0)
                    return $"gives FIXED_LEN_BYTE_ARRAY {name} no positive length";
                bool text = element.LogicalType?.STRING is not null || element.LogicalType?.ENUM is not null || element.ConvertedType is ConvertedType.UTF8 or ConvertedType.ENUM;
                if (text && type != Type.BYTE_ARRAY)
                    return $"marks {name} as a string, but its physical type is {type}, not BYTE_ARRAY";
                index++;
                continue;
            }

            if (list || implicitList)
            {
                if (implicitList && element.NumChildren != 1)
                    return $"gives the repeated group {name} {element.NumChildren ?? 0} children (a list has one)";
                if (at + 1 >= schema.Count)
                    return $"ends after the list {name}";
                index += implicitList || schema[at + 1].NumChildren is not > 0 ? 1 : 2;
                owned = 1;
            }
            else if (map)
            {
                if (at + 1 >= schema.Count || schema[at + 1].NumChildren != 2)
                    return $"gives the map {name} a key-value group without exactly two children";
                index += 2;
                owned = 2;
            }
            else if (element.NumChildren is > 0 and var n)
            {
                index++;
                owned = n;
            }
            else
            {
                return $"gives {name} neither a physical type nor children";
            }

            if (Level(schema, owned, ref index, depth + 1) is { } problem)
                return problem;
        }

        return null;
    }

    /// <summary>Each leaf's path (names below the root), physical type and whether it or a group above it repeats,
    /// from the num_children tree.</summary>
    private static Dictionary<string, (Type Type, bool Repeated)> Leaves(List<SchemaElement> schema)
    {
        var leaves = new Dictionary<string, (Type, bool)>(StringComparer.Ordinal);
        var names = new List<string>();
        var repeated = new List<bool>();
        var left = new Stack<int>();
        left.Push(schema[0].NumChildren ?? 0);
        for (int i = 1; i < schema.Count && left.Count > 0; i++)
        {
            while (left.Count > 0 && left.Peek() == 0)
            {
                left.Pop();
                if (names.Count > 0)
                {
                    names.RemoveAt(names.Count - 1);
                    repeated.RemoveAt(repeated.Count - 1);
                }
            }

            if (left.Count == 0)
                break;
            left.Push(left.Pop() - 1);
            var element = schema[i];
            if (element.NumChildren is > 0 and var n)
            {
                names.Add(element.Name ?? "");
                repeated.Add(element.RepetitionType == FieldRepetitionType.REPEATED);
                left.Push(n);
            }
            else if (element.Type is { } type)
            {
                bool repeats = element.RepetitionType == FieldRepetitionType.REPEATED || repeated.Contains(true);
                leaves.TryAdd(string.Join('\u0001', names.Append(element.Name ?? "")), (type, repeats));
            }
        }

        return leaves;
    }

    /// <summary>Each column chunk names a leaf of the schema and stores its type; fixed-width statistics have its width.</summary>
    private static string? ChunkProblem(RowGroup group, Dictionary<string, (Type Type, bool Repeated)> leaves)
    {
        for (int c = 0; c < group.Columns.Count; c++)
        {
            var chunk = group.Columns[c].MetaData!;
            string name = chunk.PathInSchema is { Count: > 0 } p ? string.Join('.', p).ReplaceLineEndings(" ") : c.ToString(CultureInfo.InvariantCulture);
            if (chunk.PathInSchema is null || !leaves.TryGetValue(string.Join('\u0001', chunk.PathInSchema), out var leaf))
                return $"has a column chunk '{name}' that is not a column of the schema";
            var type = leaf.Type;
            if (leaf.Repeated ? chunk.NumValues < group.NumRows : chunk.NumValues != group.NumRows)
            {
                return $"declares {N(group.NumRows)} rows but {N(chunk.NumValues)} values in column '{name}'"
                    + (leaf.Repeated ? " (a list column has at least one per row)" : " (a flat column has one per row)");
            }
            if (chunk.Type != type)
                return $"stores column '{name}' as {chunk.Type}, but the schema declares {type}";
            int width = type switch
            {
                Type.BOOLEAN => 1,
                Type.INT32 or Type.FLOAT => 4,
                Type.INT64 or Type.DOUBLE => 8,
                _ => -1,
            };
            if (width > 0 && chunk.Statistics is { } stats
                && ((stats.MinValue is { } min && min.Length != width) || (stats.MaxValue is { } max && max.Length != width)))
            {
                return $"has statistics for column '{name}' whose min or max is not {width} bytes wide like its {type} values";
            }
        }

        return null;
    }

    private static string? Problem(RowGroup group, long? fileBytes)
    {
        long rows = group.NumRows;
        if (rows < 0)
            return $"declares {N(rows)} rows, which is impossible (the footer is damaged)";
        if (rows > EpochOrder.MaxUnitRows)
        {
            return $"declares {N(rows)} rows, more than the {N(EpochOrder.MaxUnitRows)} read per row group (its row order "
                + "and values are held in memory); if the file is genuine, write it with smaller row groups "
                + "(e.g. PyArrow row_group_size=1_000_000)";
        }

        if (group.Columns is null)
            return "has no column list (the footer is damaged)";
        for (int c = 0; c < group.Columns.Count; c++)
        {
            var chunk = group.Columns[c].MetaData;
            if (chunk is null)
                return $"column {c} has no metadata (the footer is damaged)";
            string name = chunk.PathInSchema is { Count: > 0 } p ? string.Join('.', p) : c.ToString(CultureInfo.InvariantCulture);
            if (chunk.NumValues < 0 || chunk.TotalCompressedSize < 0 || chunk.TotalUncompressedSize < 0 || chunk.DataPageOffset < 0)
                return $"column '{name}' declares a negative size or offset (the footer is damaged)";
            long start = Math.Min(chunk.DataPageOffset, chunk.DictionaryPageOffset is long d and >= 0 ? d : long.MaxValue);
            if (fileBytes is long length && (start > length || chunk.TotalCompressedSize > length - start))
            {
                return $"column '{name}' declares {N(chunk.TotalCompressedSize)} bytes at offset {N(start)}, past the end "
                    + $"of the file ({N(length)} bytes): the file is truncated or its footer is damaged";
            }
        }

        return null;
    }

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
