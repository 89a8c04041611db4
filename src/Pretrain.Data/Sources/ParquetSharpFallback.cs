using ParquetSharp;

namespace Pretrain.Data.Sources;

/// <summary>
/// Reads one row group's column with ParquetSharp (Arrow C++), for exactly what Parquet.Net cannot decode —
/// e.g. list columns stored in v2 data pages, which Parquet.Net 6.1.0 rejects with NotImplementedException.
/// Opens the file per call; callers fall back per row group, so this is off the common path.
/// </summary>
internal static class ParquetSharpFallback
{
    public static string?[] ReadStrings(string path, int rowGroup, string column)
    {
        using var file = new ParquetFileReader(path);
        using var group = file.RowGroup(rowGroup);
        int index = LeafIndex(file, column);
        int rows = checked((int)group.MetaData.NumRows);
        using var reader = group.Column(index).LogicalReader<string?>();
        return reader.ReadAll(rows);
    }

    public static TokenLists ReadTokenLists(string path, int rowGroup, string column)
    {
        using var file = new ParquetFileReader(path);
        using var group = file.RowGroup(rowGroup);
        int index = LeafIndex(file, column);
        var descriptor = file.FileMetaData.Schema.Column(index);
        int maxDef = descriptor.MaxDefinitionLevel;
        int slotDef = descriptor.SchemaNode.Repetition == Repetition.Optional ? maxDef - 1 : maxDef;
        long entries;
        using (var chunk = group.MetaData.GetColumnChunkMetaData(index))
        {
            entries = chunk.NumValues;
        }

        var defs = new short[entries];
        var reps = new short[entries];
        long[] values;
        long levels = 0, read = 0;
        using var columnReader = group.Column(index);
        switch (columnReader)
        {
            case ColumnReader<int> ints:
                var buffer = new int[entries];
                while (ints.HasNext && levels < entries)
                {
                    levels += ints.ReadBatch(entries - levels, defs.AsSpan((int)levels), reps.AsSpan((int)levels), buffer.AsSpan((int)read), out long n);
                    read += n;
                }

                values = Array.ConvertAll(buffer[..(int)read], x => (long)x);
                break;
            case ColumnReader<long> longs:
                values = new long[entries];
                while (longs.HasNext && levels < entries)
                {
                    levels += longs.ReadBatch(entries - levels, defs.AsSpan((int)levels), reps.AsSpan((int)levels), values.AsSpan((int)read), out long n);
                    read += n;
                }

                values = values[..(int)read];
                break;
            default:
                throw new InvalidDataException($"column '{column}' stores {descriptor.PhysicalType}, not int32 or int64 ids");
        }

        int count = (int)levels;
        return new TokenLists(values, Array.ConvertAll(defs[..count], x => (int)x), Array.ConvertAll(reps[..count], x => (int)x), maxDef, slotDef);
    }

    private static int LeafIndex(ParquetFileReader file, string column)
    {
        var schema = file.FileMetaData.Schema;
        for (int i = 0; i < schema.NumColumns; i++)
        {
            using var path = schema.Column(i).Path;
            if (path.ToDotVector()[0] == column)
            {
                return i;
            }
        }

        throw new InvalidDataException($"ParquetSharp finds no column '{column}'");
    }
}
