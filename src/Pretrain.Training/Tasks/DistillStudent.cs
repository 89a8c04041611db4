using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// What a distill run trains when hidden-state transfer needs a projection: the student's own sub-modules under their
/// own names (so parameter names, weight decay and optimizer keys stay the student's) plus
/// <c>distill_hidden_proj</c>. Only <see cref="DistillTask"/> saves the projection, in its own file.
/// </summary>
internal sealed class DistillStudent : nn.Module
{
    /// <summary>The projection's module name: optimizer keys are distill_hidden_proj.weight / .bias.</summary>
    public const string ProjectionName = "distill_hidden_proj";

    private readonly nn.Module _student;

    public DistillStudent(nn.Module student, nn.Module projection) : base(nameof(DistillStudent))
    {
        _student = student;
        foreach (var (name, child) in student.named_children())
            register_module(name, child);
        register_module(ProjectionName, projection);
        var mine = named_parameters().Where(p => !p.name.StartsWith(ProjectionName + ".", StringComparison.Ordinal)).Select(p => p.name);
        if (!mine.SequenceEqual(student.named_parameters().Select(p => p.name)) || student.named_buffers().Any(b => !b.name.Contains('.', StringComparison.Ordinal)))
            throw new InvalidOperationException($"{student.GetType().Name} holds parameters outside its sub-modules; DistillStudent cannot wrap it.");
    }

    /// <summary>The student module's own flag too (its forward reads it for dropout), not only its children's.</summary>
    public override void train(bool train = true)
    {
        base.train(train);
        _student.train(train);
    }
}
