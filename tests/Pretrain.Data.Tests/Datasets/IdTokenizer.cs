using Pretrain.Data.Text;

namespace Pretrain.Data.Tests.Datasets;

/// <summary>Test tokenizer: a row's text is its integer id and encodes to that one token, so streams can be audited row by row.</summary>
internal sealed class IdTokenizer : ITextTokenizer
{
    public const int Eos = 1_000_000;

    public Func<string, Exception?> Fail { get; init; } = _ => null;

    public int EncodeCalls;

    public string Kind => "test-id";

    public int VocabSize => Eos + 1;

    public int EosId => Eos;

    public int[] Encode(string text)
    {
        Interlocked.Increment(ref EncodeCalls);
        if (Fail(text) is { } e)
        {
            throw e;
        }

        return [int.Parse(text, System.Globalization.CultureInfo.InvariantCulture)];
    }

    public string Decode(IReadOnlyList<int> ids) => string.Join(' ', ids);

    public void Save(string directory) => throw new NotSupportedException();
}
