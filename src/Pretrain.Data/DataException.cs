namespace Pretrain.Data;

/// <summary>
/// A user-facing data error: the message names the file, column, row group or recipe key at fault and says what to do.
/// The CLI prints the message alone (the stack only with <c>--verbose</c>).
/// </summary>
public sealed class DataException : Exception
{
    public DataException()
        : this("Data error.")
    {
    }

    public DataException(string message)
        : base(message)
    {
    }

    public DataException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
