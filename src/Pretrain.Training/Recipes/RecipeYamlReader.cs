using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Pretrain.Training.Recipes;

/// <summary>
/// Text → YAML node tree, with the syntax checks YamlDotNet's representation model reports poorly: a first pass over
/// the parser's events finds syntax errors (with their line), duplicate keys (with their dotted path and both lines)
/// and extra documents; then the tree is loaded.
/// </summary>
internal static class RecipeYamlReader
{
    /// <summary>The root node of the single document, or null for an empty file.</summary>
    public static YamlNode? Read(string yaml, string sourceName)
    {
        if (RecipeLoaderLimits.Check(yaml) is var (problem, line))
            throw new RecipeException($"{sourceName}:{line}: the recipe {problem}.");
        CheckEvents(yaml, sourceName);
        var stream = new YamlStream();
        var parser = new Parser(new StringReader(yaml));
        try
        {
            stream.Load(parser);
        }
        catch (YamlException e)
        {
            throw new RecipeException($"{sourceName}:{e.Start.Line}: invalid YAML: {e.Message}", e);
        }
        catch (ArgumentException e) when (e is not ArgumentOutOfRangeException)
        {
            // YamlDotNet's tree loader meets an event it has no node for (found by tools/fuzz: a key with no name
            // before a stray '}'); the event pass above accepted the same text.
            long at = parser.Current?.Start.Line ?? 0;
            throw new RecipeException($"{sourceName}:{at}: invalid YAML that YamlDotNet cannot load "
                + $"({e.Message.Split('(')[0].Trim()}); look for a key with no name (a line starting with ':') or an unmatched '}}' or ']'", e);
        }

        return stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode;
    }

    private static void CheckEvents(string yaml, string sourceName)
    {
        var problems = new List<string>();
        var stack = new Stack<Frame>();
        int documents = 0;
        long lastLine = 1;
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var parser = new Parser(new StringReader(yaml));
        try
        {
            while (parser.MoveNext())
            {
                var ev = parser.Current!;
                lastLine = ev.Start.Line;
                if (ev is NodeEvent { Anchor.IsEmpty: false } anchored)
                    anchors.Add(anchored.Anchor.Value);
                if (ev is AnchorAlias alias && !anchors.Contains(alias.Value.Value))
                {
                    // YamlDotNet's tree loader fails on it with an ArgumentException naming no line (found by tools/fuzz).
                    throw new RecipeException($"{sourceName}:{ev.Start.Line}: the alias *{alias.Value.Value} refers to no anchor "
                        + $"defined before it; define &{alias.Value.Value} first or remove the alias.");
                }
                switch (ev)
                {
                    case DocumentStart when ++documents == 2:
                        problems.Add($"{sourceName}:{ev.Start.Line}: a recipe file holds one YAML document; "
                            + "remove the second one that starts here.");
                        break;
                    case MappingStart or SequenceStart:
                        string path = stack.TryPeek(out var parent) ? parent.ChildPath() : "";
                        parent?.CollectionStarts();
                        stack.Push(new Frame(ev is MappingStart, path));
                        break;
                    case MappingEnd or SequenceEnd:
                        stack.Pop();
                        if (stack.TryPeek(out var owner))
                            owner.ValueDone();
                        break;
                    case Scalar scalar when stack.TryPeek(out var frame) && frame.IsMapping && frame.ExpectKey:
                        string key = scalar.Value;
                        string keyPath = frame.Path.Length == 0 ? key : $"{frame.Path}.{key}";
                        if (frame.KeyLines.TryGetValue(key, out long first))
                        {
                            problems.Add($"{sourceName}:{ev.Start.Line}: duplicate key '{keyPath}' (already set at "
                                + $"line {first}); keep one of them.");
                        }
                        else
                        {
                            frame.KeyLines[key] = ev.Start.Line;
                        }
                        frame.CurrentKey = key;
                        frame.ExpectKey = false;
                        break;
                    case Scalar or AnchorAlias:
                        if (stack.TryPeek(out var container))
                            container.ValueDone();
                        break;
                }
            }
        }
        catch (YamlException e)
        {
            throw new RecipeException($"{sourceName}:{e.Start.Line}: invalid YAML: {e.Message}", e);
        }
        catch (ArgumentException e) when (e is not ArgumentOutOfRangeException)
        {
            // YamlDotNet's parser rejects a malformed tag (e.g. "!!bina]A") this way (found by tools/fuzz).
            throw new RecipeException($"{sourceName}:{parser.Current?.Start.Line ?? lastLine}: invalid YAML: "
                + $"{e.Message.Split(" (Parameter", 2)[0]}", e);
        }
        catch (InvalidOperationException e)
        {
            // YamlDotNet's scanner fails this way on a flow collection left open across lines.
            throw new RecipeException($"{sourceName}:{lastLine}: invalid YAML after this line "
                + "(is a '[' or '{' left unclosed?)", e);
        }
        if (problems.Count > 0)
            throw new RecipeException(problems);
    }

    /// <summary>An open mapping or sequence while walking the parser's events.</summary>
    private sealed class Frame(bool isMapping, string path)
    {
        public bool IsMapping { get; } = isMapping;
        public string Path { get; } = path;
        public Dictionary<string, long> KeyLines { get; } = [];
        public bool ExpectKey { get; set; } = true;
        public string CurrentKey { get; set; } = "?";
        private int _index;
        private bool _complexKey;

        public string ChildPath() => IsMapping
            ? (Path.Length == 0 ? CurrentKey : $"{Path}.{CurrentKey}")
            : $"{Path}[{_index}]";

        /// <summary>A mapping or sequence used as a key (YAML allows it; the binder rejects it) is not a value.</summary>
        public void CollectionStarts()
        {
            if (IsMapping && ExpectKey)
            {
                _complexKey = true;
                CurrentKey = "?";
            }
        }

        public void ValueDone()
        {
            if (_complexKey)
            {
                _complexKey = false;
                ExpectKey = false;
            }
            else if (IsMapping)
                ExpectKey = true;
            else
                _index++;
        }
    }
}
