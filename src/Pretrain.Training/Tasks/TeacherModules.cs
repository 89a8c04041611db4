using TorchSharp;

namespace Pretrain.Training.Tasks;

/// <summary>Freezing a teacher: eval mode, no parameter requires a gradient.</summary>
internal static class TeacherModules
{
    public static T Freeze<T>(T model) where T : torch.nn.Module
    {
        foreach (var p in model.parameters())
            p.requires_grad = false;
        model.eval();
        return model;
    }
}
