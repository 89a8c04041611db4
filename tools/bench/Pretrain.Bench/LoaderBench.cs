using System.Diagnostics;
using Pretrain.Data.Datasets;
using Pretrain.Data.Text;

namespace Pretrain.Bench;

/// <summary>The data path alone: PackedTextStream (Parquet → byte tokenizer → packed blocks) drained as fast as it goes.</summary>
public static class LoaderBench
{
    /// <summary>Target tokens/s from opening the stream until <paramref name="tokens"/> targets were taken.</summary>
    public static double Measure(IReadOnlyList<string> files, int blockSize, long tokens, int seed = 1337)
    {
        var tokenizer = TokenizerFactory.Create("byte", null, "<|endoftext|>");
        long t0 = Stopwatch.GetTimestamp();
        using var stream = new PackedTextStream(new PackedTextOptions { Files = files, BlockSize = blockSize, Seed = seed }, tokenizer);
        long taken = 0;
        while (taken < tokens)
        {
            if (!stream.TryNext(out _, out _))
                throw new InvalidOperationException("The training stream ended; training streams are endless.");
            taken += blockSize;
        }
        return taken / Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }
}
