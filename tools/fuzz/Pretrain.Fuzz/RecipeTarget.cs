using System.Text;
using Pretrain.Training.Recipes;

namespace Pretrain.Fuzz;

/// <summary>Recipe YAML and --set values: line edits with hostile YAML (anchors, aliases, nesting, tags) and overrides.</summary>
public sealed class RecipeTarget : IFuzzTarget
{
    private static readonly string[] Hostile =
    [
        "x: &a [1, 2, 3]", "y: [*a, *a, *a, *a]", "z: [*y, *y, *y, *y]", "<<: *a", "? [1, 2]\n: 3", "- - - - -", "{", "[", "]",
        "model: !!binary AAAA", "train: {max_steps: 99999999999999999999}", "optimizer: {lr: .nan}", "data: null", "name: ~",
        "  - 1", "\t", "key: \"\\u0000\"", "---", "...", "train:\n  seq_len: -1", "model: {embed_dim: 2147483647}",
        "model: {num_layers: 1e308}", new string('[', 200) + new string(']', 200), "a: " + new string('x', 10_000),
        "tokenizer: {kind: wordpiece, path: /nonexistent}", "data:\n  train:\n    files: [\"*\"]", "objective: {kind: mae}",
    ];

    private static readonly string[] Values =
    [
        "-1", "0", "1e999", "99999999999999999999", "[", "]", "{a: 1}", "[1, [2, [3]]]", "&a [*a]", "*a", "!!str 1", "null", "",
        "'unterminated", "\"\\x00\"", "[&a x, &b [*a, *a, *a], [*b, *b, *b]]", "{? [1]: 2}", ".inf", "-.inf", "true",
    ];

    private readonly List<string> _seeds = [];
    private readonly List<string> _keys = ["train.max_steps", "model.embed_dim", "model.arch", "data.train.files", "optimizer.lr", "objective.kind", "name", "model", "train", "a..b", ".", "x"];

    public string Name => "recipe";

    public void Prepare(string workDir)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pretrain.sln")))
            dir = dir.Parent;
        if (dir is not null && Directory.Exists(Path.Combine(dir.FullName, "recipes")))
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(dir.FullName, "recipes"), "*.yaml").Order())
                _seeds.Add(File.ReadAllText(file));
        }

        _seeds.Add("name: tiny\nmodel: {arch: gpt2, embed_dim: 16, num_layers: 2, num_heads: 2}\ndata:\n  train: {synthetic: {rows: 10}}\ntrain: {max_steps: 4}\n");
    }

    public FuzzInput Next(Random random)
    {
        string yaml = _seeds[random.Next(_seeds.Count)];
        var sets = new List<string>();
        switch (random.Next(4))
        {
            case 0:
                yaml = Encoding.UTF8.GetString(Mutate.Bytes(random, Encoding.UTF8.GetBytes(yaml)));
                break;
            case 1:
                for (int n = random.Next(1, 4); n > 0; n--)
                    sets.Add($"{_keys[random.Next(_keys.Count)]}={Values[random.Next(Values.Length)]}");
                break;
            default:
                yaml = Mutate.Lines(random, yaml, Hostile);
                break;
        }

        return new FuzzInput(new Dictionary<string, byte[]> { ["fuzz.yaml"] = Encoding.UTF8.GetBytes(yaml) }, sets);
    }

    public void Run(FuzzInput input, string dir) => RecipeLoader.LoadFile(Path.Combine(dir, "fuzz.yaml"), input.Sets);

    public IReadOnlyList<string> Names(FuzzInput input) => ["fuzz.yaml", "--set"];
}
