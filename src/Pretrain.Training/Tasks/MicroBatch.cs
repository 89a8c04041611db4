namespace Pretrain.Training.Tasks;

/// <summary>
/// One micro-batch in host memory: the task's own samples, the number of loss terms it contributes (target
/// tokens, masked tokens, anchors…), and the input tokens (or samples) it processes, for throughput.
/// </summary>
public sealed record MicroBatch(object Samples, long LossTerms, long Units);
