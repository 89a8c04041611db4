namespace Pretrain.Training.Checkpointing;

/// <summary>
/// A checkpoint that cannot be found, verified or written. The message is for the user: it names the folder or file
/// and what to do next.
/// </summary>
public sealed class CheckpointException : Exception
{
    public CheckpointException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
