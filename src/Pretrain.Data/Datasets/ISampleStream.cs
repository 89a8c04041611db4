using Pretrain.Data.Sampling;

namespace Pretrain.Data.Datasets;

/// <summary>
/// A stream of samples that each carry the cursor to resume right after them: packed-text blocks, labelled text rows,
/// images. <see cref="MixedStream{T}"/> mixes any of them.
/// </summary>
public interface ISampleStream<T> : IDisposable
{
    /// <summary>Next sample and the cursor after it, or false at the end (finite streams only). Call from one thread.</summary>
    bool TryNext(out T sample, out DataCursor cursorAfter);
}
