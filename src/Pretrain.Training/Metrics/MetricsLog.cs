using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp.Modules;
using static TorchSharp.torch.utils;

namespace Pretrain.Training.Metrics;

/// <summary>
/// Writes metrics to <c>metrics.jsonl</c> (one JSON object per logged step; eval rows carry <c>eval_</c> keys)
/// and to TensorBoard event files under <c>tensorboard/</c>. On resume, rows after the resumed step are dropped
/// first, so the file reads as one uninterrupted run; a start from step 0 (no checkpoint yet) drops every row, since
/// an earlier try that left no checkpoint is redone from the start, step-0 eval included.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    private readonly StreamWriter _jsonl;
    private readonly SummaryWriter? _tb;

    public string JsonlPath { get; }

    public MetricsLog(string runDir, long resumeStep, bool writeTensorBoard = true)
    {
        JsonlPath = Path.Combine(runDir, "metrics.jsonl");
        TruncateAfter(JsonlPath, resumeStep);
        _jsonl = new StreamWriter(new FileStream(JsonlPath, FileMode.Append, FileAccess.Write, FileShare.Read), new UTF8Encoding(false));
        if (writeTensorBoard) _tb = tensorboard.SummaryWriter(Path.Combine(runDir, "tensorboard"));
    }

    /// <summary>Appends one row; numbers are written invariantly, NaN/∞ as strings (JSON has no such numbers).</summary>
    public void Write(long step, IReadOnlyDictionary<string, double> values)
    {
        var row = new JsonObject { ["step"] = step };
        foreach (var (k, v) in values)
        {
            row[k] = double.IsFinite(v) ? JsonValue.Create(v) : JsonValue.Create(v.ToString(CultureInfo.InvariantCulture));
            _tb?.add_scalar(k.StartsWith("eval_", StringComparison.Ordinal) ? "eval/" + k[5..] : "train/" + k, (float)v, (int)step);
        }
        _jsonl.WriteLine(row.ToJsonString());
        _jsonl.Flush();
    }

    /// <summary>Reads every row of a metrics.jsonl file (for tests, summaries and tools).</summary>
    public static List<JsonObject> Read(string path) =>
        File.Exists(path)
            ? File.ReadLines(path).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!.AsObject()).ToList()
            : [];

    private static void TruncateAfter(string path, long step)
    {
        if (!File.Exists(path)) return;
        var keep = File.ReadLines(path)
            .Where(l => l.Length > 0)
            .Where(l =>
            {
                try { return step > 0 && JsonNode.Parse(l)?["step"]?.GetValue<long>() <= step; }
                catch (JsonException) { return false; }   // a torn last line from a crash
            })
            .ToList();
        File.WriteAllLines(path, keep);
    }

    public void Dispose()
    {
        _jsonl.Dispose();
    }
}
