namespace Pretrain.Data.Writing;

/// <summary>Parquet column types that <c>pretrain data prepare</c> writes (all nullable).</summary>
public enum ColumnType
{
    /// <summary>UTF-8 string.</summary>
    String,

    /// <summary>64-bit integer (JSON integers and booleans as 0/1).</summary>
    Int64,

    /// <summary>64-bit float (JSON numbers with a fraction or exponent).</summary>
    Double,
}
