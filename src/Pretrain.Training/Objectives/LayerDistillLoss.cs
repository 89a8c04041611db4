using static TorchSharp.torch;

namespace Pretrain.Training.Objectives;

/// <summary>
/// Layer-wise distillation terms, both means in float32 over the real (unpadded) positions:
/// <list type="bullet">
/// <item>hidden states (TinyBERT, Jiao et al. 2020, eq. 8): MSE(W·h_s + b, h_t), mean over positions and the teacher's
/// width, with W a learned (d_t, d_s) projection when the widths differ (none when equal);</item>
/// <item>self-attention (MiniLM, Wang et al. 2020, eq. 4): KL(A_t ‖ A_s) of the last layer's attention distributions,
/// summed over keys, mean over heads and queries.</item>
/// </list>
/// </summary>
public static class LayerDistillLoss
{
    /// <summary>Mean over real positions and features of (proj(student) − teacher)²; hidden (B, T, d_s) and (B, T, d_t), mask (B, T) or null.</summary>
    public static Tensor HiddenMse(Tensor student, Tensor teacher, Func<Tensor, Tensor>? projection, Tensor? tokenMask)
    {
        var s = (projection is null ? student : projection(student)).to_type(ScalarType.Float32);   // (B, T, d_t)
        var diff = (s - teacher.to_type(ScalarType.Float32)).square();                              // (B, T, d_t)
        if (tokenMask is null)
            return diff.mean();
        var w = tokenMask.to_type(ScalarType.Float32).unsqueeze(-1);                                // (B, T, 1)
        return (diff * w).sum() / (w.sum() * diff.shape[^1]);
    }

    /// <summary>
    /// Mean over heads and real queries of Σ_keys KL(softmax(teacher) ‖ softmax(student)); scores (B, H, T, T) before
    /// softmax, padding keys already masked; mask (B, T) or null.
    /// </summary>
    public static Tensor AttentionKl(Tensor student, Tensor teacher, Tensor? tokenMask)
    {
        var logS = nn.functional.log_softmax(student.to_type(ScalarType.Float32), -1);   // (B, H, T, T)
        var logT = nn.functional.log_softmax(teacher.to_type(ScalarType.Float32), -1);
        var kl = (logT.exp() * (logT - logS)).sum(-1);                                  // (B, H, T); a masked key adds 0·finite
        if (tokenMask is null)
            return kl.mean();
        var w = tokenMask.to_type(ScalarType.Float32).unsqueeze(1);                     // (B, 1, T): queries
        return (kl * w).sum() / (w.sum() * kl.shape[1]);
    }
}
