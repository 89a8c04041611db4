namespace Pretrain.Data.Text;

/// <summary>Looks up the conventional special tokens by their usual spellings (see <see cref="ISpecialTokens"/>).</summary>
internal sealed record SpecialTokenIds(int? PadId, int? ClsId, int? SepId, int? MaskId, int? UnkId)
{
    private static readonly string[] Pad = ["[PAD]", "<pad>", "<|pad|>"];
    private static readonly string[] Cls = ["[CLS]", "<s>", "<cls>", "<|cls|>"];
    private static readonly string[] Sep = ["[SEP]", "</s>", "<sep>", "<|sep|>"];
    private static readonly string[] Mask = ["[MASK]", "<mask>", "<|mask|>"];
    private static readonly string[] Unk = ["[UNK]", "<unk>", "<|unk|>"];

    /// <summary>First spelling that <paramref name="lookup"/> knows, for each role.</summary>
    public static SpecialTokenIds Find(Func<string, int?> lookup) =>
        new(First(Pad, lookup), First(Cls, lookup), First(Sep, lookup), First(Mask, lookup), First(Unk, lookup));

    private static int? First(string[] spellings, Func<string, int?> lookup)
    {
        foreach (string s in spellings)
        {
            if (lookup(s) is { } id)
            {
                return id;
            }
        }

        return null;
    }
}
