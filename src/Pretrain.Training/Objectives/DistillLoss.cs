using static TorchSharp.torch;

namespace Pretrain.Training.Objectives;

/// <summary>
/// Knowledge distillation (Hinton et al. 2015): the student matches the teacher's softened distribution,
/// KL(softmax(t/T) ‖ softmax(s/T)) per scored position, scaled by T² so its gradients keep their size as T changes,
/// mixed with the hard-label cross-entropy: α·T²·KL + (1 − α)·CE. Sums over positions (the trainer divides by the
/// step's loss terms), in float32.
/// </summary>
public static class DistillLoss
{
    /// <summary>Σ over rows with <paramref name="scored"/> of KL(teacher_T ‖ student_T); logits (N, K), scored (N,) bool.</summary>
    public static Tensor KlSum(Tensor student, Tensor teacher, Tensor scored, double temperature)
    {
        var logS = nn.functional.log_softmax(student.to_type(ScalarType.Float32) / temperature, -1);   // (N, K)
        var logT = nn.functional.log_softmax(teacher.to_type(ScalarType.Float32) / temperature, -1);
        var perRow = (logT.exp() * (logT - logS)).sum(-1);                                             // (N,)
        return perRow.masked_select(scored).sum();
    }

    /// <summary>α·T²·KlSum + (1 − α)·Σ cross-entropy over targets ≠ <paramref name="ignore"/>.</summary>
    public static Tensor Sum(Tensor student, Tensor teacher, Tensor targets, double temperature, double alpha, long ignore = -100)
    {
        var hard = nn.functional.cross_entropy(student.to_type(ScalarType.Float32), targets, ignore_index: ignore, reduction: nn.Reduction.Sum);
        var kl = KlSum(student, teacher, targets.ne(ignore), temperature);
        return kl * (alpha * temperature * temperature) + hard * (1 - alpha);
    }
}
