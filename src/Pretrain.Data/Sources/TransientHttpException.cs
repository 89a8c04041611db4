namespace Pretrain.Data.Sources;

/// <summary>A response worth retrying (5xx, 429) or a short body; internal to <see cref="HttpRangeSource"/>'s retry pipeline.</summary>
internal sealed class TransientHttpException(string message) : Exception(message);
