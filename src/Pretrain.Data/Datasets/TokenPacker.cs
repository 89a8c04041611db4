namespace Pretrain.Data.Datasets;

/// <summary>
/// Concatenates documents into one token stream and cuts blocks of BlockSize + 1 ids with stride BlockSize
/// (consecutive blocks share one token, so every token after the first is a target exactly once).
/// </summary>
internal sealed class TokenPacker(int blockSize, int[] pending)
{
    private int[] _buffer = pending.Length > 0 ? [.. pending] : new int[Math.Max(16, blockSize + 1)];
    private int _start;
    private int _count = pending.Length;

    public int Count => _count;

    public void Append(ReadOnlySpan<int> tokens)
    {
        if (_start + _count + tokens.Length > _buffer.Length)
        {
            // Compact, growing only when the live tokens need it.
            int needed = _count + tokens.Length;
            int[] target = needed > _buffer.Length ? new int[Math.Max(needed, _buffer.Length * 2)] : _buffer;
            Array.Copy(_buffer, _start, target, 0, _count);
            _buffer = target;
            _start = 0;
        }

        tokens.CopyTo(_buffer.AsSpan(_start + _count));
        _count += tokens.Length;
    }

    public bool TryTake(out int[] block)
    {
        if (_count < blockSize + 1)
        {
            block = [];
            return false;
        }

        block = _buffer.AsSpan(_start, blockSize + 1).ToArray();
        _start += blockSize; // keep the last token: it is the next block's first input
        _count -= blockSize;
        return true;
    }

    /// <summary>Copy of the tokens not yet emitted as targets (what a resume cursor carries).</summary>
    public int[] Pending() => _buffer.AsSpan(_start, _count).ToArray();
}
