using System.Text;

namespace Pretrain.Data.Text;

/// <summary>
/// Byte-level tokenizer: ids 0..255 are the UTF-8 bytes of the text, then the special tokens in the order given
/// (the first is EOS, id 256). No merges, so it needs no files and suits tiny models and tests. Conventional
/// specials (&lt;pad&gt;, &lt;mask&gt;, …) among the special tokens are reported by <see cref="ISpecialTokens"/>.
/// </summary>
public sealed class ByteLevelTokenizer : ITextTokenizer, ISpecialTokens
{
    private readonly string[] _specials;

    /// <param name="specialTokens">Special tokens, EOS first; ids 256, 257, ... in this order.</param>
    public ByteLevelTokenizer(IReadOnlyList<string> specialTokens)
    {
        if (specialTokens.Count == 0)
        {
            throw new DataException("A byte-level tokenizer needs at least an EOS token (tokenizer.eos_token).");
        }

        if (specialTokens.Distinct(StringComparer.Ordinal).Count() != specialTokens.Count)
        {
            throw new DataException($"Special tokens must be distinct: {string.Join(", ", specialTokens)}.");
        }

        _specials = [.. specialTokens];
        var ids = SpecialTokenIds.Find(t => Array.IndexOf(_specials, t) is var i and >= 0 ? 256 + i : null);
        PadId = ids.PadId;
        ClsId = ids.ClsId;
        SepId = ids.SepId;
        MaskId = ids.MaskId;
        UnkId = ids.UnkId;
    }

    public int? PadId { get; }

    public int? ClsId { get; }

    public int? SepId { get; }

    public int? MaskId { get; }

    public int? UnkId { get; }

    public string Kind => "byte";

    public int VocabSize => 256 + _specials.Length;

    public int EosId => 256;

    /// <summary>Special tokens in id order.</summary>
    public IReadOnlyList<string> SpecialTokens => _specials;

    public int[] Encode(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        int[] ids = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            ids[i] = bytes[i];
        }

        return ids;
    }

    public string Decode(IReadOnlyList<int> ids)
    {
        var sb = new StringBuilder();
        var run = new List<byte>();
        foreach (int id in ids)
        {
            if (id is >= 0 and < 256)
            {
                run.Add((byte)id);
                continue;
            }

            if (id < 0 || id >= VocabSize)
            {
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id outside the byte-level vocabulary (0..{VocabSize - 1}).");
            }

            // A special token ends the current byte run; invalid UTF-8 in the run decodes to U+FFFD.
            sb.Append(Encoding.UTF8.GetString(run.ToArray()));
            run.Clear();
            sb.Append(_specials[id - 256]);
        }

        return sb.Append(Encoding.UTF8.GetString(run.ToArray())).ToString();
    }

    public void Save(string directory) => new TokenizerConfig
    {
        Kind = Kind,
        EosToken = _specials[0],
        EosId = EosId,
        VocabSize = VocabSize,
        SpecialTokens = _specials,
    }.Write(directory);
}
