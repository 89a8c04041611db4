namespace Pretrain.Models.Weights;

/// <summary>
/// A weights file or tensor map that cannot be used as it is. The message names the file, tensor or key and what
/// to do; the CLI prints it without a stack trace.
/// </summary>
public sealed class WeightsException : Exception
{
    public WeightsException()
    {
    }

    public WeightsException(string message) : base(message)
    {
    }

    public WeightsException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
