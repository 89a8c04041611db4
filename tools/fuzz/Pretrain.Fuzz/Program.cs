using System.Diagnostics;
using System.Globalization;
using Pretrain.Fuzz;

// pretrain-fuzz [--inputs N] [--seed S] [--targets parquet,parquet-image,safetensors,recipe,tokenizer,onnx] [--out DIR]
// Runs each target for N mutated inputs and prints one table row per target; exit 1 if any crash or slow input.
var options = args.Select((a, i) => (a, i)).Where(x => x.a.StartsWith("--", StringComparison.Ordinal))
    .ToDictionary(x => x.a[2..], x => x.i + 1 < args.Length ? args[x.i + 1] : "");
int inputs = int.Parse(options.GetValueOrDefault("inputs", "1000"), CultureInfo.InvariantCulture);
int seed = int.Parse(options.GetValueOrDefault("seed", "1"), CultureInfo.InvariantCulture);
string? outDir = options.GetValueOrDefault("out");
IFuzzTarget[] all = [new ParquetTarget(), new ParquetImageTarget(), new SafetensorsTarget(), new RecipeTarget(), new TokenizerTarget(), new OnnxTarget()];
var chosen = options.TryGetValue("targets", out var names)
    ? all.Where(t => names.Split(',').Contains(t.Name)).ToArray()
    : all;

if (options.ContainsKey("page-check-cost"))
{
    // pretrain-fuzz --page-check-cost [--repeats R] [--codec snappy|gzip|zstd|none]: the page check next to the read it guards.
    string dir = Directory.CreateTempSubdirectory("pretrain-fuzz-").FullName;
    try
    {
        return PageCheckCost.Run(int.Parse(options.GetValueOrDefault("repeats", "7"), CultureInfo.InvariantCulture), options.GetValueOrDefault("codec", "snappy"), dir);
    }
    finally
    {
        Directory.Delete(dir, recursive: true);
    }
}

if (options.TryGetValue("replay", out var replay))
{
    // pretrain-fuzz --replay DIR --targets NAME: runs one kept input (DIR holds its files and why.txt).
    var target = chosen[0];
    string[] why = File.ReadAllLines(Path.Combine(replay, "why.txt"));
    var sets = why[0]["sets: ".Length..].Split(" | ", StringSplitOptions.RemoveEmptyEntries);
    var files = Directory.GetFiles(replay).Where(f => Path.GetFileName(f) != "why.txt").ToDictionary(f => Path.GetFileName(f)!, File.ReadAllBytes);
    target.Prepare(Directory.CreateTempSubdirectory("pretrain-fuzz-").FullName);
    target.Run(new FuzzInput(files!, sets), replay);
    Console.WriteLine("accepted");
    return 0;
}

string work = Directory.CreateTempSubdirectory("pretrain-fuzz-").FullName;
TorchSharp.torch.set_num_threads(1);
var results = new List<FuzzResult>();
try
{
    Console.WriteLine($"seed {seed}, {inputs} inputs per target, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}");
    Console.WriteLine("| target | inputs | handled (accepted + refused) | crashes | inputs over 5 s | slowest ms | peak RSS MiB | inputs/s |");
    Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
    foreach (var target in chosen)
    {
        var clock = Stopwatch.StartNew();
        var r = FuzzRunner.Run(target, inputs, seed, work, outDir, log: Console.Error);
        results.Add(r);
        Console.WriteLine($"| {r.Target} | {r.Inputs} | {r.Accepted + r.Refused} ({r.Accepted} + {r.Refused}) | {r.Crashes} | {r.OverLimit} | "
            + $"{r.SlowestMs:F0} | {r.PeakRssBytes / (1 << 20)} | {r.Inputs / clock.Elapsed.TotalSeconds:F0} |");
        Console.WriteLine($"    most allocated by one input: {r.MaxAllocation.Bytes / (1 << 20)} MiB (input {r.MaxAllocation.Input}); "
            + $"after a full GC: heap {r.HeapAfterFullGcBytes / (1 << 20)} MiB, RSS {r.RssAfterFullGcBytes / (1 << 20)} MiB");
        foreach (var (signature, (count, example)) in r.Signatures.OrderByDescending(s => s.Value.Count))
            Console.WriteLine($"    {count} × {signature} — {example}");
    }
}
finally
{
    Directory.Delete(work, recursive: true);
}

return results.Any(r => r.Crashes > 0 || r.OverLimit > 0) ? 1 : 0;
