using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Pretrain.Training.Recipes;

/// <summary>
/// Bounds on the work a recipe's YAML text can cause, checked on the parser's events before any tree is built:
/// at most <see cref="MaxNodes"/> nodes with every alias expanded (an alias bomb of depth d is 10^d nodes in a few
/// hundred bytes) and at most <see cref="MaxDepth"/> levels of nesting (the binder recurses). Real recipes have a
/// few hundred nodes and a depth under 10. Cost: one pass over the events, linear in the text.
/// </summary>
internal static class RecipeLoaderLimits
{
    /// <summary>Nodes (scalars, mappings, sequences) after alias expansion.</summary>
    public const int MaxNodes = 10_000;

    /// <summary>Nested mappings and sequences.</summary>
    public const int MaxDepth = 64;

    /// <summary>
    /// Null when <paramref name="yaml"/> is within the bounds (or is not valid YAML, which the reader reports itself);
    /// else what is too large and the line where the bound is crossed.
    /// </summary>
    public static (string Problem, long Line)? Check(string yaml)
    {
        var anchorSizes = new Dictionary<string, long>(StringComparer.Ordinal);
        var open = new Stack<(string Anchor, long TotalAtStart)>();
        long total = 0;
        var parser = new Parser(new StringReader(yaml));
        try
        {
            while (parser.MoveNext())
            {
                switch (parser.Current)
                {
                    case NodeEvent { } start and (MappingStart or SequenceStart):
                        total++;
                        open.Push((start.Anchor.IsEmpty ? "" : start.Anchor.Value, total - 1));
                        if (open.Count > MaxDepth)
                            return ($"nested more than {MaxDepth} levels deep", start.Start.Line);
                        break;
                    case MappingEnd or SequenceEnd when open.Count > 0:
                        var (anchor, atStart) = open.Pop();
                        if (anchor.Length > 0)
                            anchorSizes[anchor] = total - atStart;
                        break;
                    case Scalar scalar:
                        total++;
                        if (!scalar.Anchor.IsEmpty)
                            anchorSizes[scalar.Anchor.Value] = 1;
                        break;
                    case AnchorAlias alias:
                        if (open.Any(o => o.Anchor == alias.Value.Value))
                            return ($"has an alias *{alias.Value.Value} inside its own anchor (a structure that contains itself)", alias.Start.Line);
                        total += anchorSizes.TryGetValue(alias.Value.Value, out long size) ? size : 1;
                        break;
                }

                if (total > MaxNodes)
                {
                    return ($"expands to more than {MaxNodes:N0} YAML nodes once its aliases (*name) are replaced by "
                        + "their anchors (&name); a recipe needs a few hundred, so remove the repeated aliases",
                        parser.Current!.Start.Line);
                }
            }
        }
        catch (Exception e) when (e is YamlException or InvalidOperationException
            or (ArgumentException and not ArgumentOutOfRangeException))
        {
            return null;
        }

        return null;
    }
}
