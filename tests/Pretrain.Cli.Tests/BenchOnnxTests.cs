using System.Globalization;
using System.Text.Json.Nodes;

namespace Pretrain.Cli.Tests;

/// <summary>`pretrain bench-onnx`: a table (or JSON) over several export folders; no timing assertions, only that it measures.</summary>
[Collection("torch")]
public sealed class BenchOnnxTests
{
    [Fact]
    public void Two_tiny_exports_give_a_table_with_positive_values_and_the_first_folder_at_ratio_one()
    {
        using var dir = new TempDir();
        var decoder = TinyExports.Export(TinyExports.Decoder(dir["gpt/step"]), dir["gpt/onnx"]);
        var classifier = TinyExports.Export(TinyExports.Classifier(dir["bert/step"]), dir["bert/onnx"]);

        var r = CliRunner.Run("bench-onnx", decoder, classifier, decoder, "--seq", "16", "--batch", "2", "--threads", "1", "--warmup", "1", "--runs", "3");
        Assert.True(r.Code == 0, r.Err + r.Out);
        var rows = r.Out.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal) && !l.StartsWith("| model", StringComparison.Ordinal) && !l.StartsWith("| ---", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, rows.Count);
        Assert.Contains("batch 2 × seq 16, 1 intra-op threads", r.Out, StringComparison.Ordinal);
        var cells = rows.Select(l => l.Trim('|', ' ', '\r').Split('|').Select(c => c.Trim()).ToArray()).ToList();
        Assert.Equal(decoder, cells[0][0]);
        Assert.Equal(classifier, cells[1][0]);
        foreach (var c in cells)
        {
            foreach (var i in new[] { 1, 2, 5, 6, 7, 8 })
                Assert.True(double.Parse(c[i], CultureInfo.InvariantCulture) > 0, $"column {i} of {string.Join(" | ", c)}");
        }
        Assert.Equal("1.000", cells[0][7]);   // the first folder against itself
        Assert.Equal("1.000", cells[0][8]);

        var json = CliRunner.Run("bench-onnx", decoder, classifier, "--seq", "8", "--threads", "1", "--warmup", "0", "--runs", "2", "--json");
        Assert.True(json.Code == 0, json.Err + json.Out);
        var parsed = JsonNode.Parse(json.Out)!.AsArray();
        Assert.Equal(2, parsed.Count);
        Assert.Equal(1.0, (double)parsed[0]!["latency_ratio"]!, 12);
        Assert.All(parsed, p =>
        {
            Assert.Equal(2, (int)p!["runs"]!);
            Assert.True((double)p["median_ms"]! > 0 && (double)p["min_ms"]! <= (double)p["median_ms"]! && (double)p["median_ms"]! <= (double)p["max_ms"]!);
            Assert.Equal(8 * (double)p["rows_per_second"]!, (double)p["tokens_per_second"]!, 6);
        });
    }

    [Fact]
    public void A_folder_without_model_onnx_is_one_clear_line()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["empty"]);
        var r = CliRunner.Run("bench-onnx", dir["empty"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("has no model.onnx", r.Err, StringComparison.Ordinal);
        Assert.Single(r.Err.Trim().Split('\n'));
        Assert.Equal(2, CliRunner.Run("bench-onnx").Code);
    }
}
