using Pretrain.Data.Sampling;
using Pretrain.Data.Sources;
using Pretrain.Data.Text;

namespace Pretrain.Data.Datasets;

/// <summary>
/// Streams packed causal-LM blocks from Parquet text. Each block is int[BlockSize + 1] (inputs = block[..^1],
/// targets = block[1..]); consecutive blocks overlap by one token, so every token is a target once. Documents are
/// tokenized on the fly (or read pre-tokenized from a list&lt;int&gt; column, see <see cref="PackedTextOptions.TokenColumn"/>),
/// each followed by EOS, concatenated and cut into blocks.
/// <para>
/// Order (DESIGN.md): each epoch is a permutation from (seed, epoch) of row groups, then rows within each; rank r of
/// W takes global positions p ≡ r (mod W). Held-out and empty rows still occupy their position (so cursors never
/// need data to be read) but yield no tokens. One background producer reads a row group at a time, tokenizes and
/// packs into a bounded channel; each block carries the cursor to resume right after it.
/// With <see cref="PackedTextOptions.ShuffleWindow"/> &gt; 1 the rows of that many consecutive row groups are mixed
/// (<see cref="EpochOrder.Locate"/>) and the producer keeps the window's row groups it has read until the window ends.
/// </para>
/// <para>Resume is exact for the same files and seed. On the same world size each rank continues bitwise from its own
/// cursor (mid-block included). On another world size, from the ranks' cursors gathered by
/// <see cref="ElasticCursor.Combine"/> (a one-rank cursor is already whole), the documents no rank consumed are dealt
/// over the new ranks and every old rank's pending tokens are handed to exactly one new rank, so no document is lost
/// or repeated and each token is a target once (see <see cref="ElasticCursor"/> for the rule).</para>
/// </summary>
public sealed class PackedTextStream : ISampleStream<int[]>
{
    private readonly record struct Item(int[] Block, DataCursor Cursor, long RowsRead, long RowsSkipped);

    private readonly PackedTextOptions _options;
    private readonly ITextTokenizer _tokenizer;
    private readonly ParquetTextSource _source;
    private readonly Prefetcher<Item> _queue;
    private readonly DataCursor _start;
    private int[] _droppedTail = [];  // written by the producer before it completes; read after the queue drains
    private long _finalRowsRead;
    private long _finalRowsSkipped;
    private bool _disposed;

    /// <exception cref="DataException">Bad options, a bad file (checked from footers), or a cursor from another seed.</exception>
    public PackedTextStream(PackedTextOptions options, ITextTokenizer tokenizer, DataCursor? resumeFrom = null)
    {
        Validate(options);
        _options = options;
        _tokenizer = tokenizer;
        _source = ParquetTextSource.Open(options.Files, options.Column, options.ConfigKey,
            options.TokenColumn is null ? ParquetColumnKind.Text : ParquetColumnKind.TokenIds, options.BadData);
        try
        {
            _start = StartCursor(options, resumeFrom, _source.TotalRows);
        }
        catch
        {
            _source.Dispose();
            throw;
        }

        Cursor = _start;
        _queue = new Prefetcher<Item>(options.Prefetch, options.Timeout, options.ConfigKey, release: _source.Dispose);
        _queue.Start(ProduceAsync);
    }

    /// <summary>Cursor after the last block returned by <see cref="TryNext"/> (the resume cursor before any).</summary>
    public DataCursor Cursor { get; private set; }

    /// <summary>Documents tokenized by this rank up to the last returned block.</summary>
    public long RowsRead { get; private set; }

    /// <summary>Rows of this rank skipped because their text (or id list) was null or empty.</summary>
    public long RowsSkipped { get; private set; }

    /// <summary>Target tokens returned so far (BlockSize per block).</summary>
    public long TokensProduced { get; private set; }

    /// <summary>Tokens left over (shorter than a block) when the last epoch ended; dropped, counted here.</summary>
    public long TokensDropped { get; private set; }

    /// <summary>The dropped tail's tokens themselves (for audits and tests), once the stream has ended.</summary>
    public int[] DroppedTail { get; private set; } = [];

    /// <summary>Total rows in the files (all ranks, held-out included).</summary>
    public long TotalRows => _source.TotalRows;

    /// <summary>
    /// Next block, or false when MaxEpochs is reached. Blocks while the producer catches up; a producer failure
    /// is rethrown here (the same exception, every call). Call from one thread.
    /// </summary>
    public bool TryNext(out int[] block, out DataCursor cursorAfter)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_queue.TryTake(out var item))
        {
            block = item.Block;
            cursorAfter = item.Cursor;
            Cursor = item.Cursor;
            RowsRead = item.RowsRead;
            RowsSkipped = item.RowsSkipped;
            TokensProduced += _options.BlockSize;
            return true;
        }

        DroppedTail = _droppedTail;
        TokensDropped = _droppedTail.Length;
        RowsRead = _finalRowsRead;
        RowsSkipped = _finalRowsSkipped;

        block = [];
        cursorAfter = Cursor;
        return false;
    }

    /// <summary>
    /// Stops the producer (also when it waits on a full queue), waits for it to end, then closes the files.
    /// </summary>
    /// <exception cref="DataException">The producer did not stop within data.timeout_s (a read deaf to cancellation);
    /// the message names the file and row group. The files are closed when that read returns, never underneath it.</exception>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _queue.Dispose();   // closes _source once the producer has ended
    }

    private async Task ProduceAsync(CancellationToken ct)
    {
        var o = _options;
        var holdout = new HoldoutSplit(o.Seed, o.HoldoutFraction);
        ulong[] fileKeys = o.Files.Select(HoldoutSplit.FileKey).ToArray();
        var packer = new TokenPacker(o.BlockSize, _start.PendingTokens);
        int epoch = _start.Epoch;
        long index = ElasticCursor.FirstOwned(_start.SampleInEpoch, o.Rank, o.WorldSize);
        EpochRemainder[]? remaining = _start.Remaining;
        long rowsRead = 0, rowsSkipped = 0;
        bool emitted = _start.PendingTokens.Length > 0; // a restored buffer starts with an already-counted target
        // A restored buffer may already hold whole blocks (the cursor sat between two blocks of one long
        // document): those come first, with the cursor unchanged except for the shrinking buffer.
        while ((o.MaxEpochs is not int m || epoch < m) && packer.TryTake(out int[] restored))
        {
            var cursor = _start with { PendingTokens = packer.Pending() };
            await _queue.Writer.WriteAsync(new Item(restored, cursor, rowsRead, rowsSkipped), ct).ConfigureAwait(false);
        }

        while (o.MaxEpochs is not int max || epoch < max)
        {
            var order = new EpochOrder(_source.Units, o.Seed, epoch, o.Shuffle, o.ShuffleWindow);
            var rem = remaining?.FirstOrDefault(r => r.Epoch == epoch) ?? EpochRemainder.Full(epoch);
            bool wholeEpoch = rem.Frontier == 0 && rem.Holes.Length == 0 && index == o.Rank;
            long count = rem.Count(order.Total);
            long docsThisEpoch = 0;
            // Row groups of the current shuffle window read so far (one with window 1): memory bounded by the window.
            var loaded = new Dictionary<int, (string?[]? Texts, int[]?[]? Ids)>();
            int loadedWindow = -1;
            // Items i ≡ rank (mod W) of this epoch's remainder, in ascending global position.
            for (long i = index; i < count; i += o.WorldSize)
            {
                var (u, row) = order.Locate(rem.At(i));
                var unit = order.Unit(u);
                if (holdout.IsHeldOut(fileKeys[unit.File], unit.RowGroup, row) != o.HoldoutSide)
                {
                    continue; // the other side's row: it keeps its position but yields nothing here
                }

                if (order.WindowOf(u) != loadedWindow)
                {
                    loaded.Clear();
                    loadedWindow = order.WindowOf(u);
                }

                if (!loaded.TryGetValue(u, out var data))
                {
                    // Read lazily, on this producer, awaited: a row group with none of this rank's rows is never read.
                    // No read-ahead: on two cores reading competes with tokenizing (tools/bench/README-loader.md).
                    data = _source.Kind == ParquetColumnKind.Text
                        ? (await _source.ReadRowGroupAsync(unit.File, unit.RowGroup, ct).ConfigureAwait(false), null)
                        : (null, await _source.ReadTokenRowGroupAsync(unit.File, unit.RowGroup, ct).ConfigureAwait(false));
                    loaded[u] = data;
                }

                int[]? tokens = data.Texts is { } texts
                    ? (string.IsNullOrEmpty(texts[row]) ? null : _tokenizer.Encode(texts[row]!))
                    : CheckIds(data.Ids![row], unit, row);
                if (tokens is null)
                {
                    rowsSkipped++;
                    continue;
                }

                packer.Append(tokens);
                packer.Append([_tokenizer.EosId]);
                rowsRead++;
                docsThisEpoch++;
                while (packer.TryTake(out int[] block))
                {
                    emitted = true;
                    var cursor = new DataCursor(epoch, i + o.WorldSize, o.Seed, o.WorldSize, packer.Pending())
                    {
                        Remaining = ElasticCursor.From(remaining, epoch),
                    };
                    await _queue.Writer.WriteAsync(new Item(block, cursor, rowsRead, rowsSkipped), ct).ConfigureAwait(false);
                }
            }

            if (docsThisEpoch == 0 && wholeEpoch && o.MaxEpochs is null)
            {
                // An endless stream with nothing to yield would block its consumer forever.
                string side = o.HoldoutSide ? "held-out (eval)" : "training";
                throw new DataException(
                    $"{o.ConfigKey}: rank {o.Rank} of {o.WorldSize} found no non-empty {side} rows in a whole epoch of " +
                    $"{order.Total} rows (column '{o.Column}', holdout_fraction {o.HoldoutFraction}). Add data or change the split.");
            }

            epoch++;
            index = o.Rank;
            remaining = ElasticCursor.From(remaining, epoch);
        }

        // The last epoch is done: the tail shorter than a block is dropped (its first token, if a block was
        // returned before, was already that block's last target).
        int[] tail = packer.Pending();
        _droppedTail = tail.AsSpan(Math.Min(tail.Length, emitted ? 1 : 0)).ToArray();
        _finalRowsRead = rowsRead;
        _finalRowsSkipped = rowsSkipped;
    }

    /// <summary>Null for a null or empty list; an id outside the vocabulary fails here, not later in an embedding lookup.</summary>
    private int[]? CheckIds(int[]? ids, RowGroupRef unit, int row)
    {
        if (ids is null || ids.Length == 0)
        {
            return null;
        }

        int vocab = _tokenizer.VocabSize;
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)vocab)
            {
                throw new DataException(
                    $"{_options.Files[unit.File]}: row group {unit.RowGroup}, row {row}, column '{_options.Column}': token id {id} is outside " +
                    $"the tokenizer's vocabulary [0, {vocab}) ({_tokenizer.Kind}). Use the tokenizer the ids were made with, or re-tokenize the data.");
            }
        }

        return ids;
    }

    private static DataCursor StartCursor(PackedTextOptions o, DataCursor? resume, long total)
    {
        if (resume is null)
        {
            return DataCursor.Start(o.Seed, o.WorldSize);
        }

        if (resume.Seed != o.Seed)
        {
            throw new DataException(
                $"{o.ConfigKey}: the resume cursor was written with seed {resume.Seed} but the data seed is {o.Seed}; " +
                "resuming would repeat and skip samples. Use the original seed.");
        }

        if (resume.Epoch < 0 || resume.SampleInEpoch < 0)
        {
            throw new DataException($"{o.ConfigKey}: invalid resume cursor {resume}.");
        }

        var local = ElasticCursor.ForRank(resume with { PendingTokens = resume.PendingTokens ?? [] }, o.Rank, o.WorldSize, total, o.ConfigKey);
        // The stream reports the cursor it starts from in its own (rank-local) form.
        return local;
    }

    private static void Validate(PackedTextOptions o)
    {
        string k = o.ConfigKey;
        Check(o.BlockSize >= 1, $"{k}: block size must be at least 1 (got {o.BlockSize}).");
        Check(o.WorldSize >= 1 && o.Rank >= 0 && o.Rank < o.WorldSize, $"{k}: rank {o.Rank} is not in 0..{o.WorldSize - 1}.");
        Check(o.Prefetch >= 1, $"{k}: prefetch must be at least 1 (got {o.Prefetch}).");
        Check(o.HoldoutFraction is >= 0 and <= 1, $"{k}: holdout fraction must be in [0, 1] (got {o.HoldoutFraction}).");
        Check(o.ShuffleWindow >= 1, $"{k}.shuffle_window must be at least 1 (got {o.ShuffleWindow}).");
        Check(o.MaxEpochs is null or >= 1, $"{k}: max epochs must be at least 1 (got {o.MaxEpochs}).");
        Check(!string.IsNullOrEmpty(o.TextColumn), $"{k}.text_column is empty.");
        Check(o.TokenColumn is null || o.TokenColumn.Length > 0, $"{k}.token_column is empty; leave it unset to tokenize {k}.text_column.");
    }

    private static void Check(bool ok, string message)
    {
        if (!ok)
        {
            throw new DataException(message);
        }
    }
}
