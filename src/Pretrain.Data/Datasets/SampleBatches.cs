namespace Pretrain.Data.Datasets;

/// <summary>Micro-batches read from a finite sample stream (eval splits, eval/predict commands).</summary>
public static class SampleBatches
{
    /// <summary>
    /// Consecutive batches of up to <paramref name="size"/> samples until the stream ends (only the last may be short)
    /// or <paramref name="maxBatches"/> batches were read (0: no limit). Reading is lazy: stop enumerating to stop reading.
    /// </summary>
    public static IEnumerable<List<T>> Of<T>(ISampleStream<T> stream, int size, int maxBatches = 0)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        for (int n = 0; maxBatches <= 0 || n < maxBatches; n++)
        {
            var rows = new List<T>(size);
            while (rows.Count < size && stream.TryNext(out var row, out _))
                rows.Add(row);
            if (rows.Count == 0) yield break;
            yield return rows;
            if (rows.Count < size) yield break;   // the stream has ended
        }
    }
}
