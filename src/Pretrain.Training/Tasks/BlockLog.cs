using System.Globalization;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;

namespace Pretrain.Training.Tasks;

/// <summary>
/// Test hook: with PRETRAIN_TEST_BLOCK_LOG=DIR, every packed-text block a rank draws for training is appended to
/// DIR/rank-R.txt as one line of token ids, so a test can check end to end which tokens each rank of an mpirun job
/// trained on. Without the variable the stream is returned as it is (no cost).
/// </summary>
internal sealed class BlockLog(ISampleStream<int[]> inner, StreamWriter log) : ISampleStream<int[]>
{
    public static ISampleStream<int[]> Wrap(ISampleStream<int[]> stream, int rank)
    {
        string? dir = Environment.GetEnvironmentVariable("PRETRAIN_TEST_BLOCK_LOG");
        if (string.IsNullOrEmpty(dir)) return stream;
        Directory.CreateDirectory(dir);
        return new BlockLog(stream, new StreamWriter(Path.Combine(dir, $"rank-{rank}.txt"), append: true));
    }

    public bool TryNext(out int[] sample, out DataCursor cursorAfter)
    {
        if (!inner.TryNext(out sample, out cursorAfter)) return false;
        log.WriteLine(string.Join(' ', sample.Select(t => t.ToString(CultureInfo.InvariantCulture))));
        log.Flush();
        return true;
    }

    public void Dispose()
    {
        log.Dispose();
        inner.Dispose();
    }
}
