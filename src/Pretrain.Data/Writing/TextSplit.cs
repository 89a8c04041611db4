namespace Pretrain.Data.Writing;

/// <summary>How <see cref="TextCorpus"/> cuts text files into rows.</summary>
public enum TextSplit
{
    /// <summary>One row per paragraph (text between blank lines), trimmed.</summary>
    Paragraph,

    /// <summary>One row per non-blank line.</summary>
    Line,

    /// <summary>One row per file.</summary>
    File,
}
