namespace Pretrain.Data.Text;

/// <summary>
/// Ids of the conventional special tokens a tokenizer knows (null when it has none): what masked-LM and
/// classification collators need besides <see cref="ITextTokenizer.EosId"/>. WordPiece takes them from its
/// vocabulary ([PAD] [UNK] [CLS] [SEP] [MASK]); other kinds look up the usual spellings
/// (<c>&lt;pad&gt;</c>, <c>&lt;s&gt;</c>, <c>&lt;/s&gt;</c>, <c>&lt;mask&gt;</c>, <c>&lt;unk&gt;</c>, <c>&lt;|pad|&gt;</c>, …)
/// among their special tokens and vocabulary.
/// </summary>
public interface ISpecialTokens
{
    /// <summary>Padding ([PAD], &lt;pad&gt;, &lt;|pad|&gt;).</summary>
    int? PadId { get; }

    /// <summary>Sequence start / classification ([CLS], &lt;s&gt;, &lt;cls&gt;).</summary>
    int? ClsId { get; }

    /// <summary>Separator / sequence end ([SEP], &lt;/s&gt;, &lt;sep&gt;).</summary>
    int? SepId { get; }

    /// <summary>Mask for masked-LM objectives ([MASK], &lt;mask&gt;, &lt;|mask|&gt;).</summary>
    int? MaskId { get; }

    /// <summary>Unknown token ([UNK], &lt;unk&gt;, &lt;|unk|&gt;).</summary>
    int? UnkId { get; }
}
