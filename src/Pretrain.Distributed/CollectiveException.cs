using System.Runtime.InteropServices;

namespace Pretrain.Distributed;

/// <summary>
/// A collective could not run: the MPI or NCCL library is missing, a call returned an error, or the arguments cannot
/// be communicated (wrong dtype, device or size). Derives from <see cref="ExternalException"/> (an error from a native
/// library), which the CLI already prints as one line.
/// </summary>
public sealed class CollectiveException : ExternalException
{
    public CollectiveException(string message) : base(message) { }

    public CollectiveException(string message, Exception inner) : base(message, inner) { }
}
