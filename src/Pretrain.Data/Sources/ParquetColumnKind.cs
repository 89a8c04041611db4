namespace Pretrain.Data.Sources;

/// <summary>What a <see cref="ParquetTextSource"/> column holds.</summary>
public enum ParquetColumnKind
{
    /// <summary>A UTF-8 string column (documents to tokenize).</summary>
    Text,

    /// <summary>A list&lt;int32&gt; or list&lt;int64&gt; column of pre-tokenized ids (e.g. <c>input_ids</c>).</summary>
    TokenIds,
}
