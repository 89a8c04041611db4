namespace Pretrain.Data.Text.HuggingFace;

/// <summary>How a split keeps its delimiters (Hugging Face's SplitDelimiterBehavior).</summary>
internal enum SplitBehavior
{
    Removed,
    Isolated,
    MergedWithPrevious,
    MergedWithNext,
    Contiguous,
}

/// <summary>Splits a piece at delimiter spans the way Hugging Face's <c>NormalizedString::split</c> does.</summary>
internal static class HfSplit
{
    /// <summary>Parses a behavior name of a tokenizer.json.</summary>
    public static SplitBehavior ParseBehavior(string? name, string file) => name switch
    {
        "Removed" => SplitBehavior.Removed,
        "Isolated" or null => SplitBehavior.Isolated,
        "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
        "MergedWithNext" => SplitBehavior.MergedWithNext,
        "Contiguous" => SplitBehavior.Contiguous,
        _ => throw new DataException($"{file}: split behavior '{name}' is unknown (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)."),
    };

    /// <summary>
    /// The pieces of <paramref name="s"/> given its delimiter spans (sorted, not overlapping); empty pieces dropped.
    /// With <paramref name="invert"/> the spans are what is kept and the gaps are the delimiters.
    /// </summary>
    public static void Split(string s, List<(int Start, int End)> delimiters, SplitBehavior behavior, bool invert, List<string> into)
    {
        // Segments covering s: (start, end, isDelimiter).
        var segments = new List<(int Start, int End, bool IsMatch)>(delimiters.Count * 2 + 1);
        int prev = 0;
        foreach (var (start, end) in delimiters)
        {
            if (start > prev)
            {
                segments.Add((prev, start, invert));
            }

            segments.Add((start, end, !invert));
            prev = end;
        }

        if (prev < s.Length)
        {
            segments.Add((prev, s.Length, invert));
        }

        var spans = new List<(int Start, int End)>(segments.Count);
        switch (behavior)
        {
            case SplitBehavior.Removed:
                spans.AddRange(segments.Where(g => !g.IsMatch).Select(g => (g.Start, g.End)));
                break;
            case SplitBehavior.Isolated:
                spans.AddRange(segments.Select(g => (g.Start, g.End)));
                break;
            case SplitBehavior.MergedWithPrevious:
            {
                bool previousMatch = false;
                foreach (var g in segments)
                {
                    if (g.IsMatch && !previousMatch && spans.Count > 0)
                    {
                        spans[^1] = (spans[^1].Start, g.End);
                    }
                    else
                    {
                        spans.Add((g.Start, g.End));
                    }

                    previousMatch = g.IsMatch;
                }

                break;
            }

            case SplitBehavior.MergedWithNext:
            {
                bool previousMatch = false;
                for (int i = segments.Count - 1; i >= 0; i--)
                {
                    var g = segments[i];
                    if (g.IsMatch && !previousMatch && spans.Count > 0)
                    {
                        spans[^1] = (g.Start, spans[^1].End);
                    }
                    else
                    {
                        spans.Add((g.Start, g.End));
                    }

                    previousMatch = g.IsMatch;
                }

                spans.Reverse();
                break;
            }

            default:
            {
                bool? previousMatch = null;
                foreach (var g in segments)
                {
                    if (previousMatch == g.IsMatch && spans.Count > 0)
                    {
                        spans[^1] = (spans[^1].Start, g.End);
                    }
                    else
                    {
                        spans.Add((g.Start, g.End));
                    }

                    previousMatch = g.IsMatch;
                }

                break;
            }
        }

        foreach (var (start, end) in spans)
        {
            if (end > start)
            {
                into.Add(s[start..end]);
            }
        }
    }

    /// <summary>Spans of single code points for which <paramref name="predicate"/> holds.</summary>
    public static List<(int Start, int End)> CharSpans(string s, Func<System.Text.Rune, bool> predicate)
    {
        var spans = new List<(int, int)>();
        int i = 0;
        foreach (var r in s.EnumerateRunes())
        {
            int n = r.Utf16SequenceLength;
            if (predicate(r))
            {
                spans.Add((i, i + n));
            }

            i += n;
        }

        return spans;
    }
}
