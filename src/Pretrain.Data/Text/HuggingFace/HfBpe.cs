using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;

namespace Pretrain.Data.Text.HuggingFace;

/// <summary>
/// Hugging Face's BPE model: a piece starts as its characters (with continuing_subword_prefix / end_of_word_suffix
/// where set; unknown ones as &lt;0xXX&gt; byte tokens with byte_fallback, else the unk token, fused with fuse_unk, or
/// dropped without one), then the pair of lowest merge rank, leftmost first, is merged until none is left. With
/// ignore_merges a piece that is itself in the vocabulary is that token. Pieces are cached (bounded).
/// </summary>
internal sealed class HfBpe : IHfModel
{
    private const int CacheLimit = 200_000;
    private const int CachedPieceLength = 256;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<(int, int), (int Rank, int Id)> _merges;
    private readonly string? _prefix, _suffix;
    private readonly int? _unkId;
    private readonly bool _fuseUnk, _byteFallback, _ignoreMerges;
    private readonly int[] _byteIds;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    private HfBpe(Dictionary<string, int> vocab, Dictionary<(int, int), (int, int)> merges, string? unk, string? prefix, string? suffix,
        bool fuseUnk, bool byteFallback, bool ignoreMerges)
    {
        _vocab = vocab;
        _merges = merges;
        UnknownToken = unk;
        _unkId = unk is not null && vocab.TryGetValue(unk, out int u) ? u : null;
        _prefix = string.IsNullOrEmpty(prefix) ? null : prefix;
        _suffix = string.IsNullOrEmpty(suffix) ? null : suffix;
        _fuseUnk = fuseUnk;
        _byteFallback = byteFallback;
        _ignoreMerges = ignoreMerges;
        _byteIds = new int[256];
        for (int b = 0; b < 256; b++)
        {
            _byteIds[b] = vocab.TryGetValue($"<0x{b:X2}>", out int id) ? id : -1;
        }
    }

    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    public string? UnknownToken { get; }

    /// <summary>Reads a BPE <c>model</c> object (merges as "a b" strings or [a, b] pairs).</summary>
    public static HfBpe Parse(JsonElement model, Dictionary<string, int> vocab, string file)
    {
        if (model.TryGetProperty("dropout", out var d) && d.ValueKind == JsonValueKind.Number && d.GetDouble() > 0)
        {
            throw new DataException($"{file}: BPE dropout {d.GetDouble()} makes encoding random; set \"dropout\": null for fine-tuning.");
        }

        string? prefix = HfJson.Str(model, "continuing_subword_prefix");
        int prefixLength = prefix?.Length ?? 0;
        var merges = new Dictionary<(int, int), (int, int)>();
        if (model.TryGetProperty("merges", out var m) && m.ValueKind == JsonValueKind.Array)
        {
            int rank = 0;
            foreach (var merge in m.EnumerateArray())
            {
                string a, b;
                if (merge.ValueKind == JsonValueKind.String && merge.GetString()!.Split(' ') is [var x, var y])
                {
                    (a, b) = (x, y);
                }
                else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                    && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
                {
                    (a, b) = (merge[0].GetString()!, merge[1].GetString()!);
                }
                else
                {
                    throw new DataException($"{file}: model.merges entries must be \"a b\" strings or [a, b] pairs, got {merge.GetRawText()}.");
                }

                string joined = a + (b.Length >= prefixLength ? b[prefixLength..] : b);
                if (!vocab.TryGetValue(a, out int ia) || !vocab.TryGetValue(b, out int ib) || !vocab.TryGetValue(joined, out int id))
                {
                    throw new DataException($"{file}: merge {rank} ('{a}' '{b}') names a token that is not in model.vocab; the file is damaged.");
                }

                merges.TryAdd((ia, ib), (rank, id));
                rank++;
            }
        }

        return new HfBpe(vocab, merges, HfJson.Str(model, "unk_token"), prefix, HfJson.Str(model, "end_of_word_suffix"),
            HfJson.Bool(model, "fuse_unk", false), HfJson.Bool(model, "byte_fallback", false), HfJson.Bool(model, "ignore_merges", false));
    }

    public void Tokenize(string piece, List<int> ids)
    {
        if (_ignoreMerges && _vocab.TryGetValue(piece, out int whole))
        {
            ids.Add(whole);
            return;
        }

        if (piece.Length <= CachedPieceLength && _cache.TryGetValue(piece, out var cached))
        {
            ids.AddRange(cached);
            return;
        }

        int[] result = Merge(piece);
        if (piece.Length <= CachedPieceLength)
        {
            if (_cache.Count >= CacheLimit)
            {
                _cache.Clear();
            }

            _cache.TryAdd(piece, result);
        }

        ids.AddRange(result);
    }

    private int[] Merge(string piece)
    {
        // Initial symbols, one per character (or byte / unk).
        var symbols = new List<int>(piece.Length);
        var runes = piece.EnumerateRunes().ToArray();
        bool lastWasUnk = false;
        for (int i = 0; i < runes.Length; i++)
        {
            string s = runes[i].ToString();
            if (i > 0 && _prefix is not null)
            {
                s = _prefix + s;
            }

            if (i == runes.Length - 1 && _suffix is not null)
            {
                s += _suffix;
            }

            if (_vocab.TryGetValue(s, out int id))
            {
                symbols.Add(id);
                lastWasUnk = false;
                continue;
            }

            if (_byteFallback)
            {
                byte[] bytes = Encoding.UTF8.GetBytes(s);
                if (bytes.All(b => _byteIds[b] >= 0))
                {
                    symbols.AddRange(bytes.Select(b => _byteIds[b]));
                    lastWasUnk = false;
                    continue;
                }
            }

            if (_unkId is int unk)
            {
                if (!(_fuseUnk && lastWasUnk))
                {
                    symbols.Add(unk);
                }

                lastWasUnk = true;
            }
        }

        return MergeSymbols(symbols);
    }

    /// <summary>Merges the pair of lowest rank (leftmost on ties) until no pair has a merge; O(n log n) with a heap.</summary>
    private int[] MergeSymbols(List<int> symbols)
    {
        int n = symbols.Count;
        if (n < 2)
        {
            return [.. symbols];
        }

        int[] id = [.. symbols];
        int[] next = new int[n], prev = new int[n];
        bool[] dead = new bool[n];
        for (int i = 0; i < n; i++)
        {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }

        var queue = new PriorityQueue<(int Pos, int Left, int Right), (int Rank, int Pos)>();
        void Push(int left)
        {
            if (left >= 0 && next[left] >= 0 && _merges.TryGetValue((id[left], id[next[left]]), out var m))
            {
                queue.Enqueue((left, id[left], id[next[left]]), (m.Rank, left));
            }
        }

        for (int i = 0; i + 1 < n; i++)
        {
            Push(i);
        }

        while (queue.TryDequeue(out var top, out _))
        {
            int left = top.Pos;
            if (dead[left] || next[left] < 0 || id[left] != top.Left || id[next[left]] != top.Right)
            {
                continue;
            }

            int right = next[left];
            id[left] = _merges[(top.Left, top.Right)].Id;
            dead[right] = true;
            next[left] = next[right];
            if (next[right] >= 0)
            {
                prev[next[right]] = left;
            }

            Push(prev[left]);
            Push(left);
        }

        var result = new List<int>(n);
        for (int i = 0; i >= 0; i = next[i])
        {
            result.Add(id[i]);
        }

        return [.. result];
    }
}
