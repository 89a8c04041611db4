namespace Pretrain.Data.Tests.Reference;

/// <summary>The repository's git-ignored <c>.cache/</c> folder, where fetched reference files are kept between runs.</summary>
internal static class RepoCache
{
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
