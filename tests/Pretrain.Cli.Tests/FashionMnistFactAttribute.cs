namespace Pretrain.Cli.Tests;

/// <summary>
/// A fact that fetches Fashion-MNIST with tools/data/fashion-mnist.sh. Under CI=true it always runs, so a failed
/// download fails the test; elsewhere it is skipped with the reason when apt-get is missing and nothing is cached.
/// </summary>
public sealed class FashionMnistFactAttribute : FactAttribute
{
    public FashionMnistFactAttribute()
    {
        bool onCi = ReferenceTools.OnCi;
        bool cached = File.Exists(Path.Combine(CliRunner.RepoRoot, ".cache", "data", "fashion-mnist", "train", ".complete"));
        bool apt = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, "apt-get")));
        if (!onCi && !cached && !apt)
        {
            Skip = "Fashion-MNIST comes from Debian's dataset-fashion-mnist package and apt-get is not available. Set CI=true to make this a failure.";
        }
    }
}
