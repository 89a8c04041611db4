using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;

namespace Pretrain.Training.Tasks;

/// <summary>Reads a micro-batch's samples from an endless training stream, keeping the resume cursor after the last one.</summary>
internal static class TrainRows
{
    public static List<T> Take<T>(ISampleStream<T> stream, int count, ref DataCursor? cursor)
    {
        var rows = new List<T>(count);
        while (rows.Count < count)
        {
            if (!stream.TryNext(out var row, out var after))
                throw new InvalidOperationException("The training stream ended; training streams are endless.");
            rows.Add(row);
            cursor = after;
        }
        return rows;
    }
}
