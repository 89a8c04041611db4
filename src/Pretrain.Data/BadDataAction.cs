namespace Pretrain.Data;

/// <summary>What a stream does with data it cannot use (recipe <c>data.on_bad_data</c>).</summary>
public enum BadDataAction
{
    /// <summary>Stop with a <see cref="DataException"/> naming file, row group, row and column (the default).</summary>
    Fail,

    /// <summary>Skip the row (or row group, or file), count it, and name it once in the log.</summary>
    Skip,
}
