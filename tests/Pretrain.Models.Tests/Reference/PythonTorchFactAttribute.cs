namespace Pretrain.Models.Tests.Reference;

/// <summary>
/// A fact that needs Debian's python3-torch: skipped with the reason when it is missing, except under CI=true,
/// where the test runs and fails so a missing reference is never silently ignored.
/// </summary>
public sealed class PythonTorchFactAttribute : FactAttribute
{
    public PythonTorchFactAttribute()
    {
        if (PythonTorch.WhyMissing is string why && !PythonTorch.OnCi)
            Skip = $"Reference check needs PyTorch for Python: {why}. Set CI=true to make this a failure.";
    }
}
