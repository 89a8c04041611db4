namespace Pretrain.Data.Datasets;

/// <summary>
/// One supervised fine-tuning sample: <c>Ids</c> = tokens(prompt) + tokens(response) + eos, truncated (see
/// <see cref="SftStream"/>), of which the first <see cref="PromptLength"/> are the prompt. Ids at index ≥
/// PromptLength (response and eos) are targets; prompt ids are context only. File, row group and row say where
/// the row came from (stable across epochs and world sizes).
/// </summary>
public sealed record SftPair(int[] Ids, int PromptLength, int File, int RowGroup, int Row)
{
    /// <summary>Epoch the row was drawn in.</summary>
    public int Epoch { get; init; }

    /// <summary>Global position in the epoch's order.</summary>
    public long Position { get; init; }

    /// <summary>Whether truncation cut the prompt or the response (the eos is then absent when the response was cut).</summary>
    public bool Truncated { get; init; }

    /// <summary>
    /// Ids that carry loss: the response tokens and the eos (when kept). The first id has no context, so with an
    /// empty prompt the response's first token is context only.
    /// </summary>
    public int TargetCount => Ids.Length - Math.Max(PromptLength, 1);
}
