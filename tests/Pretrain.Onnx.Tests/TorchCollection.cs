namespace Pretrain.Onnx.Tests;

/// <summary>libtorch state is process-wide: torch tests run one at a time.</summary>
[CollectionDefinition("torch", DisableParallelization = true)]
public sealed class TorchCollection;
