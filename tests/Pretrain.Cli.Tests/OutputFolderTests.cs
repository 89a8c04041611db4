using Pretrain.Cli.Tests.Import;

namespace Pretrain.Cli.Tests;

/// <summary>
/// The --out rule of export, import and tokenizer train: never delete a folder we did not create, replace only an
/// earlier output of ours (its manifest.json says so) and only with --overwrite, never take a run's step folder.
/// </summary>
[Collection("torch")]
public sealed class OutputFolderTests
{
    [Fact]
    public void Export_refuses_a_users_folder_that_holds_a_model_onnx_and_changes_nothing()
    {
        using var dir = new TempDir();
        Import(dir);
        Directory.CreateDirectory(dir["mine"]);
        File.WriteAllText(dir["mine/model.onnx"], "my own model");
        File.WriteAllText(dir["mine/notes.txt"], "my notes");

        var r = CliRunner.Run("export", dir["ckpt"], "--out", dir["mine"], "--no-validate");
        Assert.Equal(1, r.Code);
        Assert.Contains("not written by pretrain", r.Err, StringComparison.Ordinal);
        Assert.Single(r.Err.Trim().Split('\n'));
        Assert.Equal("my own model", File.ReadAllText(dir["mine/model.onnx"]));
        Assert.Equal("my notes", File.ReadAllText(dir["mine/notes.txt"]));
        Assert.Equal(["model.onnx", "notes.txt"], Names(dir["mine"]));
        Assert.Equal(["ckpt", "hf", "mine"], Names(dir.Path));   // no temp folder or lock file left beside it
    }

    [Fact]
    public void Import_never_replaces_a_runs_step_folder()
    {
        using var dir = new TempDir();
        HfFolders.Write(dir["hf"], "gpt2");
        string step = dir["run/checkpoints/step-00000010"];
        Assert.Equal(0, CliRunner.Run("import", dir["hf"], "--out", dir["staged"]).Code);   // made into a run's checkpoint below
        Directory.CreateDirectory(dir["run/checkpoints"]);
        Directory.Move(dir["staged"], step);
        File.WriteAllText(Path.Combine(step, "trainer_state.json"), "{\"step\": 10}");
        File.WriteAllText(Path.Combine(step, "optimizer.safetensors"), "optimizer state");

        foreach (string[] extra in new[] { Array.Empty<string>(), ["--overwrite"] })
        {
            var r = CliRunner.Run(["import", dir["hf"], "--out", step, .. extra]);
            Assert.Equal(1, r.Code);
            Assert.Contains("checkpoint folder of a run", r.Err, StringComparison.Ordinal);
            Assert.Equal("optimizer state", File.ReadAllText(Path.Combine(step, "optimizer.safetensors")));
            Assert.True(File.Exists(Path.Combine(step, "trainer_state.json")));
        }
    }

    [Fact]
    public void Import_refuses_a_folder_whose_manifest_is_not_ours()
    {
        using var dir = new TempDir();
        HfFolders.Write(dir["hf"], "gpt2");
        Directory.CreateDirectory(dir["data"]);
        File.WriteAllText(dir["data/manifest.json"], "{\"name\": \"my dataset\"}");
        File.WriteAllText(dir["data/rows.csv"], "a,b\n");

        var r = CliRunner.Run("import", dir["hf"], "--out", dir["data"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("not written by pretrain", r.Err, StringComparison.Ordinal);
        Assert.Equal(["manifest.json", "rows.csv"], Names(dir["data"]));
    }

    [Fact]
    public void Overwrite_replaces_an_earlier_output_of_ours_and_nothing_else()
    {
        using var dir = new TempDir();
        Import(dir);
        Assert.Equal(0, CliRunner.Run("export", dir["ckpt"], "--out", dir["onnx"], "--no-validate").Code);
        Assert.Contains("manifest.json", Names(dir["onnx"]));

        var again = CliRunner.Run("export", dir["ckpt"], "--out", dir["onnx"], "--no-validate");
        Assert.Equal(1, again.Code);
        Assert.Contains("--overwrite", again.Err, StringComparison.Ordinal);

        var replaced = CliRunner.Run("export", dir["ckpt"], "--out", dir["onnx"], "--no-validate", "--overwrite");
        Assert.True(replaced.Code == 0, replaced.Err);

        // A file the user added is not ours: --overwrite refuses rather than delete it.
        File.WriteAllText(dir["onnx/README.md"], "my notes");
        var withForeign = CliRunner.Run("export", dir["ckpt"], "--out", dir["onnx"], "--no-validate", "--overwrite");
        Assert.Equal(1, withForeign.Code);
        Assert.Contains("README.md", withForeign.Err, StringComparison.Ordinal);
        Assert.Equal("my notes", File.ReadAllText(dir["onnx/README.md"]));
        Assert.True(File.Exists(dir["onnx/model.onnx"]));

        // An import's output is a checkpoint, not an export: neither replaces the other.
        var cross = CliRunner.Run("export", dir["ckpt"], "--out", dir["ckpt"], "--no-validate", "--overwrite");
        Assert.Equal(1, cross.Code);
        Assert.True(File.Exists(dir["ckpt/model.safetensors"]));
        var reimport = CliRunner.Run("import", dir["hf"], "--out", dir["ckpt"], "--overwrite");
        Assert.True(reimport.Code == 0, reimport.Err);
    }

    [Fact]
    public void A_killed_exports_temp_folder_is_removed_on_the_next_start()
    {
        using var dir = new TempDir();
        Import(dir);
        string stale = dir[".onnx.tmp-" + DeadPid()];
        Directory.CreateDirectory(Path.Combine(stale, "tokenizer"));
        File.WriteAllText(Path.Combine(stale, "model.onnx"), "half written");
        Directory.CreateDirectory(dir[".onnx-backup"]);   // not one of our temp names: left alone

        var r = CliRunner.Run("export", dir["ckpt"], "--out", dir["onnx"], "--no-validate");
        Assert.True(r.Code == 0, r.Err);
        Assert.False(Directory.Exists(stale));
        Assert.True(Directory.Exists(dir[".onnx-backup"]));
    }

    [Fact]
    public void Tokenizer_train_refuses_vocab_files_it_did_not_write()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["a.txt"], string.Join(' ', Enumerable.Repeat("karo mision tenlo shave", 200)));
        Directory.CreateDirectory(dir["tok"]);
        File.WriteAllText(dir["tok/vocab.json"], "{\"mine\": 0}");
        File.WriteAllText(dir["tok/merges.txt"], "#version: mine\n");
        string[] train = ["tokenizer", "train", dir["a.txt"], "--vocab-size", "300", "--out"];

        var r = CliRunner.Run([.. train, dir["tok"]]);
        Assert.Equal(1, r.Code);
        Assert.Contains("not written by pretrain", r.Err, StringComparison.Ordinal);
        Assert.Equal("{\"mine\": 0}", File.ReadAllText(dir["tok/vocab.json"]));
        Assert.Equal("#version: mine\n", File.ReadAllText(dir["tok/merges.txt"]));

        Assert.Equal(0, CliRunner.Run([.. train, dir["fresh"]]).Code);
        Assert.Equal(1, CliRunner.Run([.. train, dir["fresh"]]).Code);
        var again = CliRunner.Run([.. train, dir["fresh"], "--overwrite"]);
        Assert.True(again.Code == 0, again.Err);
    }

    private static void Import(TempDir dir)
    {
        HfFolders.Write(dir["hf"], "llama", taskPrefix: true, tied: false);
        var r = CliRunner.Run("import", dir["hf"], "--out", dir["ckpt"]);
        Assert.True(r.Code == 0, r.Err);
    }

    private static string[] Names(string folder) =>
        Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    /// <summary>The pid of a process that has ended (a short-lived child, waited for).</summary>
    internal static int DeadPid()
    {
        using var p = System.Diagnostics.Process.Start("true")!;
        p.WaitForExit();
        return p.Id;
    }
}
