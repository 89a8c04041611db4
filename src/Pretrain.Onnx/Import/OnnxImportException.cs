namespace Pretrain.Onnx.Import;

/// <summary>
/// An ONNX file (or a package embedding one) cannot be imported: unreadable, not a BERT-family graph, or a
/// hyper-parameter that cannot be inferred. The message names the file, tensor or node and what to do.
/// </summary>
public sealed class OnnxImportException : Exception
{
    public OnnxImportException()
    {
    }

    public OnnxImportException(string message) : base(message)
    {
    }

    public OnnxImportException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
