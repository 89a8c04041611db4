namespace Pretrain.Cli.Import;

/// <summary>
/// A model read from an import source and checked, ready to be written: <see cref="Write"/> fills a checkpoint
/// folder (model.safetensors, config.json, tokenizer/); <see cref="Notes"/> says what was inferred or skipped.
/// </summary>
internal sealed record ImportedModel(string Description, IReadOnlyList<string> Notes, Action<string> Write, IDisposable Owner) : IDisposable
{
    public void Dispose() => Owner.Dispose();
}
