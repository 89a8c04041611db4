using YamlDotNet.RepresentationModel;

namespace Pretrain.Training.Recipes;

/// <summary>
/// Recipe YAML (+ <c>--set key.path=value</c> overrides) → a typed, validated <see cref="Recipe"/>; the resolved
/// recipe back to YAML; and the resume rule for which keys may change when a run continues.
/// Every error is a <see cref="RecipeException"/> naming the file (or --set text), the dotted key and the line.
/// </summary>
public static class RecipeLoader
{
    /// <summary>
    /// Keys that may differ from the saved recipe on resume, because they do not alter the work already done:
    /// how long to go on (train.max_steps; the schedule follows the new value from the current step), cadences of
    /// logging, evaluation and checkpointing, how many checkpoints to keep, performance knobs (train.threads,
    /// data.prefetch), where to run (train.device, e.g. another GPU after a requeue), and how much of the eval split
    /// to score (data.eval.max_batches, objective.exact_match_rows). Everything else (model, data, tokenizer, optimizer, schedule shape, batch
    /// shape, precision, seed) is refused. Note that train.threads and train.device may change float rounding, so
    /// the continued run is equivalent, not necessarily bit-identical, to an uninterrupted one.
    /// </summary>
    public static IReadOnlyList<string> ResumeChangeableKeys { get; } =
    [
        "train.max_steps",
        "train.log_every",
        "train.eval_every",
        "train.checkpoint_every",
        "train.keep_last",
        "train.keep_best",
        "train.threads",
        "train.device",
        "data.prefetch",
        "data.eval.max_batches",
        "objective.exact_match_rows",
        "train.activation_checkpointing",        // memory for time; the same gradients on CPU (docs/activation-checkpointing.md)
        "train.activation_checkpointing_every",
        "train.on_nonfinite",          // a run stopped on a non-finite step may resume skipping such steps
        "train.max_skipped_steps",
        "train.collective_timeout_s",  // how long a rank waits for the others; no effect on the work
        "train.zero",                  // where the optimizer state lives; the checkpoint holds all of it either way
    ];

    /// <summary>Reads, overrides, binds and validates a recipe file. Messages name the path as given.</summary>
    public static Recipe LoadFile(string path, IEnumerable<string>? overrides = null)
    {
        if (Directory.Exists(path))
            throw new RecipeException($"{path}: is a folder; pass a recipe file, e.g. {Path.Combine(path, "quickstart.yaml")}");
        string yaml;
        try
        {
            yaml = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new RecipeException($"{path}: recipe file not found (looked for {Path.GetFullPath(path)}); "
                + "check the path, e.g. recipes/quickstart.yaml", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RecipeException($"{path}: cannot read the recipe file: {e.Message}", e);
        }
        return Parse(yaml, path, overrides);
    }

    /// <summary>Parses recipe YAML; <paramref name="sourceName"/> is what messages call it (usually the file path).</summary>
    public static Recipe Parse(string yaml, string sourceName, IEnumerable<string>? overrides = null)
    {
        var root = RecipeYamlReader.Read(yaml, sourceName) switch
        {
            null => new YamlMappingNode(),
            YamlScalarNode s when RecipeScalars.IsNull(s) => new YamlMappingNode(),
            YamlMappingNode m => m,
            var other => throw new RecipeException($"{sourceName}:{other.Start.Line}: a recipe must be a mapping of "
                + $"keys (name, model, data, train, ...), got {RecipeBinder.Describe(other)}"),
        };
        var origins = new Dictionary<YamlNode, string>(ReferenceEqualityComparer.Instance);
        RecipeOverrides.Apply(root, overrides ?? [], origins);

        var binder = new RecipeBinder(sourceName, origins);
        var recipe = binder.Bind<Recipe>(root);
        if (binder.Problems.Count > 0)
            throw new RecipeException(binder.Problems);
        RecipeValidator.Validate(recipe, sourceName, binder.Locations);
        return recipe;
    }

    /// <summary>
    /// Value checks for a recipe built in code (the loader runs them itself): positive sizes, known kinds, ranges,
    /// exactly one data source per split, train.seq_len ≤ model.max_seq_len. Throws one exception listing all problems.
    /// </summary>
    public static void Validate(Recipe recipe, string sourceName = "recipe") =>
        RecipeValidator.Validate(recipe, sourceName, new Dictionary<string, string>());

    /// <summary>The resolved recipe: every key with its effective value, snake_case; <see cref="Parse"/> reads it back equal.</summary>
    public static string ToYaml(Recipe recipe) => RecipeYamlWriter.Write(recipe);

    /// <summary>Dotted keys whose values differ between two recipes (all keys, allowed or not).</summary>
    public static IReadOnlyList<string> Differences(Recipe a, Recipe b) => RecipeDiff.Differences(a, b);

    /// <summary>
    /// The dotted keys that differ between the saved and the requested recipe other than
    /// <see cref="ResumeChangeableKeys"/>; empty when the resume may go ahead. A section present on one side only
    /// (e.g. data.eval added) is reported as the section's key.
    /// </summary>
    public static IReadOnlyList<string> ForbiddenResumeChanges(Recipe saved, Recipe requested) =>
        RecipeDiff.Differences(saved, requested).Where(k => !ResumeChangeableKeys.Contains(k)).ToList();
}
