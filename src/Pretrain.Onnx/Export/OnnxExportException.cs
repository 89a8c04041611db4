namespace Pretrain.Onnx.Export;

/// <summary>An export cannot be made or failed validation; the message names the file or setting and what to do.</summary>
public sealed class OnnxExportException : Exception
{
    public OnnxExportException()
    {
    }

    public OnnxExportException(string message) : base(message)
    {
    }

    public OnnxExportException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
