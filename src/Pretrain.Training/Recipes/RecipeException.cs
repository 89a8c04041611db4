namespace Pretrain.Training.Recipes;

/// <summary>
/// A recipe (or a <c>--set</c> override) that cannot be used. The message is for the user: every line names the file
/// (or the <c>--set</c> text), the dotted key, the line where known, and what to write instead.
/// </summary>
public sealed class RecipeException : Exception
{
    public RecipeException(string message, Exception? inner = null)
        : base(message, inner)
    {
        Problems = [message];
    }

    internal RecipeException(IReadOnlyList<string> problems)
        : base(string.Join('\n', problems))
    {
        Problems = problems;
    }

    /// <summary>Each problem found, one line each (the message joins them with newlines).</summary>
    public IReadOnlyList<string> Problems { get; }
}
