using Parquet;
using Pretrain.Data.Sampling;
using Pretrain.Data.Sources;
using Pretrain.Data.Text;

namespace Pretrain.Data.Datasets;

/// <summary>
/// Streams supervised fine-tuning pairs (a prompt and a response string column per row) from Parquet files: one
/// sample per row, <c>tokens(prompt) + tokens(response) + eos</c>, with the prompt length so the collator can keep
/// the loss on the response and eos only.
/// <para>
/// Truncation to <see cref="SftOptions.MaxTokens"/> (see <see cref="Assemble"/>): the response (with its eos) is
/// guaranteed min(its length, ⌈MaxTokens/2⌉) ids; the prompt keeps its head in what is left, and the response then
/// keeps its head (losing the eos when it is cut). So every sample has at least one target.
/// </para>
/// <para>
/// Order, sharding, holdout and the resume cursor follow <see cref="RankWalk"/>, exactly as
/// <see cref="LabelledTextStream"/>: a permutation from (seed, epoch) of row groups, then rows; rank r of W takes
/// positions p ≡ r (mod W); the cursor after a row is the end of its round; shuffle_window mixes the rows of that many
/// row groups (<see cref="SftOptions.ShuffleWindow"/>). One background producer reads a window's row groups at a time
/// (both columns; one row group for window 1) and tokenizes into a bounded <see cref="Prefetcher{T}"/>.
/// </para>
/// </summary>
public sealed class SftStream : ISampleStream<SftPair>
{
    private readonly record struct Item(SftPair Sample, DataCursor Cursor);

    private readonly SftOptions _options;
    private readonly ITextTokenizer _tokenizer;
    private readonly ParquetTextSource _prompts;
    private readonly ParquetTextSource _responses;
    private readonly RankWalk _walk;
    private readonly Prefetcher<Item> _queue;
    private readonly DataCursor _start;
    private bool _disposed;

    /// <exception cref="DataException">Bad options, a bad file or column (checked from footers), or a cursor from another seed.</exception>
    public SftStream(SftOptions options, ITextTokenizer tokenizer, DataCursor? resumeFrom = null)
    {
        Validate(options);
        _options = options;
        _tokenizer = tokenizer;
        _start = RowWalkSetup.StartCursor(options.ConfigKey, options.Seed, options.WorldSize, resumeFrom);
        Cursor = _start;
        CheckColumns(options);
        _prompts = ParquetTextSource.Open(options.Files, options.PromptColumn, options.ConfigKey);
        try
        {
            _responses = ParquetTextSource.Open(options.Files, options.ResponseColumn, options.ConfigKey);
            _walk = new RankWalk(_prompts.Units, options.Files, options.Seed, options.Rank, options.WorldSize, options.Shuffle,
                options.HoldoutFraction, options.HoldoutSide, shuffleWindow: options.ShuffleWindow);
        }
        catch
        {
            _responses?.Dispose();
            _prompts.Dispose();
            throw;
        }

        _queue = new Prefetcher<Item>(options.Prefetch, options.Timeout, options.ConfigKey, release: () =>
        {
            _prompts.Dispose();
            _responses.Dispose();
        });
        _queue.Start(ProduceAsync);
    }

    /// <summary>Cursor after the last row returned by <see cref="TryNext"/> (the resume cursor before any).</summary>
    public DataCursor Cursor { get; private set; }

    /// <summary>Total rows in the files (all ranks, held-out included).</summary>
    public long TotalRows => _prompts.TotalRows;

    /// <summary>Next pair, or false when MaxEpochs is reached. A producer failure is rethrown here. Call from one thread.</summary>
    public bool TryNext(out SftPair sample, out DataCursor cursorAfter)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_queue.TryTake(out var item))
        {
            sample = item.Sample;
            cursorAfter = item.Cursor;
            Cursor = item.Cursor;
            return true;
        }

        sample = null!;
        cursorAfter = Cursor;
        return false;
    }

    /// <summary>
    /// prompt + response + eos (none when <paramref name="eos"/> is null) cut to <paramref name="maxTokens"/> ids: the response part (response then eos) is
    /// reserved min(|response| + 1, ⌈maxTokens/2⌉) ids, the prompt keeps its head in the rest, and the response part
    /// keeps its head in what the prompt leaves.
    /// </summary>
    public static (int[] Ids, int PromptLength, bool Truncated) Assemble(int[] prompt, int[] response, int? eos, int maxTokens)
    {
        int tail = response.Length + (eos is null ? 0 : 1);   // a chat template's response carries its own end markers
        int full = prompt.Length + tail;
        int reserve = Math.Min(tail, (maxTokens + 1) / 2);
        int promptKeep = full <= maxTokens ? prompt.Length : Math.Min(prompt.Length, maxTokens - reserve);
        int responseKeep = Math.Min(tail, maxTokens - promptKeep);
        var ids = new int[promptKeep + responseKeep];
        prompt.AsSpan(0, promptKeep).CopyTo(ids);
        int fromResponse = Math.Min(responseKeep, response.Length);
        response.AsSpan(0, fromResponse).CopyTo(ids.AsSpan(promptKeep));
        if (fromResponse < responseKeep && eos is int end)
        {
            ids[^1] = end;
        }

        return (ids, promptKeep, full > maxTokens);
    }

    /// <summary>Stops the producer, waits for it to end, then closes the files.</summary>
    /// <exception cref="DataException">The producer did not stop within data.timeout_s (a read deaf to cancellation); the
    /// message names the file and row group. The files are closed when that read returns, never underneath it.</exception>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _queue.Dispose();   // closes both sources once the producer has ended
    }

    private async Task ProduceAsync(CancellationToken ct)
    {
        var o = _options;
        int epoch = _start.Epoch;
        long start = _start.SampleInEpoch;
        while (o.MaxEpochs is not int max || epoch < max)
        {
            var order = _walk.Order(epoch);
            long limit = RankWalk.Limit(start, order.Total, o.WorldSize);
            long produced = 0;
            foreach (var window in _walk.Rows(order, start))
            {
                // The window's row groups, both columns (one row group unless shuffle_window > 1).
                var prompts = new string?[window.Units.Length][];
                var responses = new string?[window.Units.Length][];
                for (int s = 0; s < prompts.Length; s++)
                {
                    var unit = window.Units[s];
                    prompts[s] = await _prompts.ReadRowGroupAsync(unit.File, unit.RowGroup, ct).ConfigureAwait(false);
                    responses[s] = await _responses.ReadRowGroupAsync(unit.File, unit.RowGroup, ct).ConfigureAwait(false);
                }

                for (int i = 0; i < window.Rows.Length; i++)
                {
                    int slot = window.Slots[i], row = window.Rows[i];
                    long p = window.Positions[i];
                    var sample = Make(prompts[slot][row], responses[slot][row], window.Units[slot], row) with { Epoch = epoch, Position = p };
                    produced++;
                    var cursor = _walk.CursorAfter(epoch, start, limit, p);
                    await _queue.Writer.WriteAsync(new Item(sample, cursor), ct).ConfigureAwait(false);
                }
            }

            if (produced == 0 && start == 0 && o.MaxEpochs is null)
            {
                string side = o.HoldoutSide ? "held-out (eval)" : "training";
                throw new DataException(
                    $"{o.ConfigKey}: rank {o.Rank} of {o.WorldSize} found no {side} rows in a whole epoch of {order.Total} rows " +
                    $"(holdout_fraction {o.HoldoutFraction}). Add data or change the split.");
            }

            epoch++;
            start = 0;
        }
    }

    private SftPair Make(string? prompt, string? response, RowGroupRef unit, int row)
    {
        var o = _options;
        string where = $"{o.Files[unit.File]}: row group {unit.RowGroup}, row {row}";
        if (prompt is null)
        {
            throw new DataException($"{where}, column '{o.PromptColumn}': the prompt is null. Write an empty string for no prompt, or remove the row from {o.ConfigKey}.files.");
        }

        if (o.Template is { } template && !string.IsNullOrEmpty(response))
        {
            var (turn, promptIds) = template.Encode(prompt, response);
            var (chatIds, chatPromptLength, chatTruncated) = Assemble(turn[..promptIds], turn[promptIds..], null, o.MaxTokens);
            return new SftPair(chatIds, chatPromptLength, unit.File, unit.RowGroup, row) { Truncated = chatTruncated };
        }

        var responseIds = string.IsNullOrEmpty(response) ? [] : _tokenizer.Encode(response);
        if (responseIds.Length == 0)
        {
            throw new DataException(
                $"{where}, column '{o.ResponseColumn}': the response is {(response is null ? "null" : "empty")}; an SFT pair needs a response to learn. " +
                $"Fix or remove the row (or file) from {o.ConfigKey}.files.");
        }

        var (ids, promptLength, truncated) = Assemble(_tokenizer.Encode(prompt), responseIds, _tokenizer.EosId, o.MaxTokens);
        return new SftPair(ids, promptLength, unit.File, unit.RowGroup, row) { Truncated = truncated };
    }

    /// <summary>Names the recipe key to set when a file lacks the prompt or response column (footers only; other faults are reported when the files open).</summary>
    private static void CheckColumns(SftOptions o)
    {
        foreach (string file in o.Files.Where(f => !ByteSource.IsUrl(f)))
        {
            Parquet.Schema.ParquetSchema schema;
            try
            {
                var reader = ParquetReader.CreateAsync(file).GetAwaiter().GetResult();
                schema = reader.Schema;
                reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                continue; // ParquetTextSource.Open reports unreadable files with their own message.
            }

            foreach (var (column, key) in new[] { (o.PromptColumn, "prompt_column"), (o.ResponseColumn, "response_column") })
            {
                if (!schema.Fields.Any(f => f.Name == column))
                {
                    throw new DataException(
                        $"{file} has no {key.Replace("_column", "", StringComparison.Ordinal)} column '{column}'; columns: {string.Join(", ", schema.Fields.Select(f => f.Name))}. " +
                        $"Set {o.ConfigKey}.{key}.");
                }
            }
        }
    }

    private static void Validate(SftOptions o)
    {
        string k = o.ConfigKey;
        RowWalkSetup.CheckSampling(k, o.WorldSize, o.Rank, o.Prefetch, o.ShuffleWindow, o.HoldoutFraction, 1, o.MaxEpochs);
        RowWalkSetup.Check(o.MaxTokens >= 2, $"{k}: max tokens must be at least 2 (got {o.MaxTokens}); raise train.seq_len.");
        RowWalkSetup.Check(!string.IsNullOrEmpty(o.PromptColumn), $"{k}.prompt_column is empty.");
        RowWalkSetup.Check(!string.IsNullOrEmpty(o.ResponseColumn), $"{k}.response_column is empty.");
    }

}
