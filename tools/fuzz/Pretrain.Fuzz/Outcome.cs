using System.Runtime.InteropServices;
using Pretrain.Data;
using Pretrain.Models.Weights;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Import;
using Pretrain.Training.Checkpointing;
using Pretrain.Training.Recipes;

namespace Pretrain.Fuzz;

/// <summary>What one input did: accepted, refused with our one-line error naming the input, or a crash.</summary>
public enum Outcome
{
    Accepted,
    Refused,
    Crash,
}

/// <summary>The rule of issue 10: only our user-facing error counts as handled.</summary>
public static class OutcomeRule
{
    /// <summary>Exceptions that are a bug wherever they appear in the chain, even wrapped into a message.</summary>
    private static readonly Type[] CrashTypes =
    [
        typeof(NullReferenceException), typeof(IndexOutOfRangeException), typeof(OverflowException),
        typeof(InvalidCastException), typeof(KeyNotFoundException), typeof(ArgumentOutOfRangeException),
        typeof(OutOfMemoryException), typeof(StackOverflowException), typeof(DivideByZeroException),
    ];

    /// <summary>
    /// Refused when <paramref name="e"/> is one of our user-facing exceptions, no crash type is in its inner chain,
    /// and its message names the input (<paramref name="names"/>: any of them) on one line (recipe errors list one
    /// problem per line). Everything else is a crash, with the reason.
    /// </summary>
    public static (Outcome Outcome, string? Why) Classify(Exception e, IReadOnlyList<string> names)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (CrashTypes.Any(t => t.IsInstanceOfType(inner)))
                return (Outcome.Crash, $"{inner.GetType().Name} in the chain");
        }

        bool ours = e is RecipeException or DataException or CheckpointException or WeightsException
            or OnnxImportException or OnnxExportException or FileNotFoundException or DirectoryNotFoundException
            or InvalidDataException;
        if (!ours)
            return (Outcome.Crash, $"{e.GetType().Name} is not a user-facing error");
        if (e is not RecipeException && e.Message.Contains('\n'))
            return (Outcome.Crash, "message spans several lines");
        if (!names.Any(n => e.Message.Contains(n, StringComparison.Ordinal)))
            return (Outcome.Crash, "message does not name the input");
        return (Outcome.Refused, null);
    }

    /// <summary>Type and first frame of ours: crashes with the same signature are one bug.</summary>
    public static string Signature(Exception e)
    {
        var root = e;
        while (root.InnerException is not null && !CrashTypes.Any(t => t.IsInstanceOfType(root)))
            root = root.InnerException;
        var frames = root.StackTrace?.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("at ", StringComparison.Ordinal)).ToList() ?? [];
        string ours = frames.FirstOrDefault(l => l.Contains("Pretrain.", StringComparison.Ordinal)) ?? "?";
        string top = frames.FirstOrDefault() ?? "?";
        string signature = $"{root.GetType().Name} {Method(ours)}";
        return top == ours ? signature : $"{signature} (thrown in {Method(top)})";
    }

    private static string Method(string frame)
    {
        int paren = frame.IndexOf('(', StringComparison.Ordinal);
        return paren > 0 ? frame[..paren] : frame;
    }
}
