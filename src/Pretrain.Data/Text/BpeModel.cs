using Microsoft.ML.Tokenizers;

namespace Pretrain.Data.Text;

/// <summary>A BPE vocabulary and merge list in memory, with how text is split before merging.</summary>
/// <param name="Vocab">Token → id.</param>
/// <param name="Merges">"left right" pairs, highest priority first.</param>
/// <param name="ByteLevel">GPT-2 style: tokens are written in the byte-level alphabet and text is split by GPT-2's regex.</param>
/// <param name="UnknownToken">Token for symbols the vocabulary lacks (not byte-level).</param>
/// <param name="ContinuingSubwordPrefix">Prefix of non-initial sub-words (e.g. "##"), or null.</param>
/// <param name="EndOfWordSuffix">Suffix of word-final sub-words (e.g. "&lt;/w&gt;"), or null.</param>
/// <param name="FuseUnknown">Merge consecutive unknown symbols into one unknown token.</param>
/// <param name="PreTokenizer">How text is split when not byte-level (null: on whitespace).</param>
internal sealed record BpeModel(
    IReadOnlyDictionary<string, int> Vocab,
    IReadOnlyList<string> Merges,
    bool ByteLevel = true,
    string? UnknownToken = null,
    string? ContinuingSubwordPrefix = null,
    string? EndOfWordSuffix = null,
    bool FuseUnknown = false,
    Func<IReadOnlyDictionary<string, int>, PreTokenizer>? PreTokenizer = null);
