namespace Pretrain.Training;

/// <summary>A run stopped on a non-finite loss or gradient (train.on_nonfinite, train.max_skipped_steps); names the step.</summary>
public sealed class NumericalFaultException(string message) : Exception(message);
