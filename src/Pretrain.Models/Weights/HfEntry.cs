using static TorchSharp.torch;

namespace Pretrain.Models.Weights;

/// <summary>
/// One tensor of an encoder-family model and its Hugging Face name (without the task prefix when it belongs to the
/// backbone). <paramref name="Fixed"/> marks a buffer computed from the config (a sin-cos table): a checkpoint's
/// copy is checked against it, not loaded.
/// </summary>
internal sealed record HfEntry(string HfName, string OurName, Tensor Target, bool Fixed = false);
