namespace Pretrain.Data.Sources;

/// <summary>
/// One row group of a list&lt;int&gt; column as Parquet stores it: the defined leaf values and one
/// definition/repetition level per entry. <see cref="Assemble"/> turns them into one id array per row.
/// </summary>
/// <param name="Values">Leaf values whose definition level is <paramref name="MaxDefinition"/>, in order.</param>
/// <param name="Definitions">Definition level per entry.</param>
/// <param name="Repetitions">Repetition level per entry (0 starts a row).</param>
/// <param name="MaxDefinition">Definition level of a present value.</param>
/// <param name="SlotDefinition">Definition level at which the list has an element slot (a null element sits
/// between this and <paramref name="MaxDefinition"/>; below it the list is null or empty).</param>
internal sealed record TokenLists(long[] Values, int[] Definitions, int[] Repetitions, int MaxDefinition, int SlotDefinition)
{
    /// <summary>Rows of ids; a null or empty list is null.</summary>
    /// <exception cref="InvalidDataException">A null element, an id outside int32, or levels that do not fit the row count;
    /// the message gives the row.</exception>
    public int[]?[] Assemble(long rowCount)
    {
        var rows = new int[]?[rowCount];
        var current = new List<int>();
        long row = -1;
        int v = 0;
        for (int i = 0; i < Definitions.Length; i++)
        {
            if (Repetitions[i] == 0)
            {
                Flush(rows, row, current);
                row++;
                if (row >= rowCount)
                {
                    throw new InvalidDataException($"the column holds more rows than the row group's {rowCount}");
                }
            }
            else if (row < 0)
            {
                throw new InvalidDataException("the first entry continues a row (repetition level > 0)");
            }

            int d = Definitions[i];
            if (d >= MaxDefinition)
            {
                long value = Values[v++];
                if (value is < int.MinValue or > int.MaxValue)
                {
                    throw new InvalidDataException($"row {row} holds id {value}, outside int32");
                }

                current.Add((int)value);
            }
            else if (d >= SlotDefinition)
            {
                throw new InvalidDataException($"row {row} holds a null id inside its list");
            }
        }

        Flush(rows, row, current);
        if (row + 1 != rowCount)
        {
            throw new InvalidDataException($"the column holds {row + 1} rows but the row group {rowCount}");
        }

        return rows;
    }

    private static void Flush(int[]?[] rows, long row, List<int> current)
    {
        if (row >= 0 && current.Count > 0)
        {
            rows[row] = [.. current];
        }

        current.Clear();
    }
}
