using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// Holds a task's modules (backbone, heads, decoders) under fixed names so the optimizer, checkpoints and
/// freezing see one parameter list: encoder.*, mlm_head.*, decoder.*…
/// </summary>
public sealed class TaskModule : nn.Module
{
    public TaskModule(params (string Name, nn.Module Module)[] parts) : base(nameof(TaskModule))
    {
        foreach (var (name, module) in parts)
            register_module(name, module);
    }
}
