namespace Pretrain.Data.Tests.Reference;

/// <summary>The repository's git-ignored <c>.cache/</c> folder, where fetched reference files are kept between runs.</summary>
internal static class RepoCache
{
    /// <summary>CI sets CI=true; there a reference that cannot be fetched is a failure, not a skip.</summary>
    public static bool OnCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The repository root (where Pretrain.sln is).</summary>
    public static string RepoRoot
    {
        get
        {
            var d = new DirectoryInfo(AppContext.BaseDirectory);
            while (d is not null && !File.Exists(Path.Combine(d.FullName, "Pretrain.sln")))
            {
                d = d.Parent;
            }

            return d?.FullName ?? throw new InvalidOperationException("Pretrain.sln not found above the test folder.");
        }
    }

    /// <summary><c>.cache/&lt;parts&gt;</c> under the repository root.</summary>
    public static string PathOf(params string[] parts) => Path.Combine([RepoRoot, ".cache", .. parts]);
}
