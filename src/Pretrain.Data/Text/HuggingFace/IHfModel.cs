namespace Pretrain.Data.Text.HuggingFace;

/// <summary>A tokenizer.json <c>model</c>: turns one pre-tokenized piece into ids.</summary>
internal interface IHfModel
{
    /// <summary>Appends the ids of <paramref name="piece"/> to <paramref name="ids"/>.</summary>
    void Tokenize(string piece, List<int> ids);

    /// <summary>Token → id of the model's vocabulary.</summary>
    IReadOnlyDictionary<string, int> Vocab { get; }

    /// <summary>The unknown token, or null.</summary>
    string? UnknownToken { get; }
}
