using Pretrain.Models.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// A task whose loss is cross-entropy of logits against targets (causal LM, masked LM, classification), so another
/// model of the same family — a teacher — can be run on the same micro-batch and its logits set beside the student's
/// (<see cref="DistillTask"/>). Tasks keep their own <see cref="ITrainingTask.LossSum"/>; this only exposes the logits.
/// </summary>
public interface IDistillableTask : ITrainingTask
{
    /// <summary>
    /// A model of this task's family read from a checkpoint folder (run step, or imported), on the task's device, in
    /// eval mode with every parameter frozen; its parameter names match <see cref="ITrainingTask.Model"/>'s.
    /// </summary>
    nn.Module LoadTeacher(string directory);

    /// <summary>
    /// Logits (N, K) at the positions the loss scores and their targets (N,; <c>-100</c> where nothing is scored) of
    /// <paramref name="model"/> — <see cref="ITrainingTask.Model"/> or a <see cref="LoadTeacher"/> result — on a micro-batch. A
    /// <paramref name="capture"/> receives the backbone's hidden states (and attention when asked) of the same forward.
    /// </summary>
    (Tensor Logits, Tensor Targets) Logits(nn.Module model, MicroBatch batch, LayerCapture? capture = null);

    /// <summary>The backbone's blocks, width and attention heads of <paramref name="model"/> (the task's or a teacher).</summary>
    (int Layers, int Width, int Heads) Shape(nn.Module model);
}
