namespace Pretrain.Data.Tests.Reference;

/// <summary>
/// A fact that needs Debian's sentencepiece tools (spm_train, spm_encode): skipped with the reason when they are
/// missing, except under CI=true (.ci/run installs them), where the test runs and fails.
/// </summary>
public sealed class SpmFactAttribute : FactAttribute
{
    public SpmFactAttribute()
    {
        if (Tool.Missing("spm_train", "apt-get install sentencepiece") is string why && !RepoCache.OnCi)
        {
            Skip = $"Needs SentencePiece's reference tools: {why}. Set CI=true to make this a failure.";
        }
    }
}
