using Pretrain.Cli.Tests;

namespace Pretrain.Cli.Tests.Import;

/// <summary>Bad import sources: one clear line naming the problem, exit 1, and nothing in --out.</summary>
[Collection("torch")]
public sealed class ImportBadInputTests
{
    [Fact]
    public void A_truncated_safetensors_file_is_refused()
    {
        using var dir = new TempDir();
        HfFolders.Write(dir["hf"], "bert");
        var bytes = File.ReadAllBytes(dir["hf/model.safetensors"]);
        File.WriteAllBytes(dir["hf/model.safetensors"], bytes[..(bytes.Length / 2)]);
        AssertRefused(dir, "model.safetensors");
    }

    [Fact]
    public void A_malicious_safetensors_header_is_refused()
    {
        using var dir = new TempDir();
        HfFolders.Write(dir["hf"], "gpt2");
        var header = "{\"transformer.wte.weight\":{\"dtype\":\"F32\",\"shape\":[1000000000],\"data_offsets\":[0,4000000000]}}"u8.ToArray();
        File.WriteAllBytes(dir["hf/model.safetensors"], [.. BitConverter.GetBytes((ulong)header.Length), .. header]);
        AssertRefused(dir, "model.safetensors");
    }

    [Fact]
    public void Another_architecture_is_refused()
    {
        using var dir = new TempDir();
        HfFolders.Write(dir["hf"], "bert");
        HfFolders.Rewrite(dir["hf/config.json"], c => { c["model_type"] = "t5"; return c; });
        AssertRefused(dir, "model_type 't5'");
    }

    [Fact]
    public void A_checkpoint_of_another_shape_lists_the_mismatches()
    {
        using var dir = new TempDir();
        HfFolders.Write(dir["hf"], "gpt2");
        HfFolders.Rewrite(dir["hf/config.json"], c => { c["n_layer"] = 3; return c; });
        AssertRefused(dir, "missing: transformer.h.2.");
    }

    [Fact]
    public void A_missing_tensor_is_named()
    {
        using var dir = new TempDir();
        HfFolders.Write(dir["hf"], "vit");
        var all = Pretrain.Models.Weights.Safetensors.Load(dir["hf/model.safetensors"]);
        Assert.True(all.Remove("vit.encoder.layer.1.output.dense.weight"));
        Pretrain.Models.Weights.Safetensors.Save(dir["hf/model.safetensors"], all);
        AssertRefused(dir, "missing: encoder.layer.1.output.dense.weight");
    }

    [Fact]
    public void A_shard_that_lacks_what_the_index_says_is_refused()
    {
        using var dir = new TempDir();
        HfFolders.Write(dir["hf"], "llama", shards: 2);
        HfFolders.Rewrite(dir["hf/model.safetensors.index.json"], c => { c["weight_map"]!["model.extra.weight"] = "model-00001-of-00002.safetensors"; return c; });
        AssertRefused(dir, "model.extra.weight (in model-00001-of-00002.safetensors)");
    }

    [Fact]
    public void A_file_that_is_not_onnx_and_a_missing_source_are_refused()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["model.onnx"], "not a protobuf at all");
        var r = CliRunner.Run("import", dir["model.onnx"], "--out", dir["ckpt"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("not a readable ONNX model", r.Err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir["ckpt"]));

        var missing = CliRunner.Run("import", dir["nope"], "--out", dir["ckpt"]);
        Assert.Equal(1, missing.Code);
        Assert.Contains("does not exist", missing.Err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir["ckpt"]));
    }

    private static void AssertRefused(TempDir dir, string expected)
    {
        var r = CliRunner.Run("import", dir["hf"], "--out", dir["ckpt"]);
        Assert.Equal(1, r.Code);
        Assert.Contains(expected, r.Err, StringComparison.Ordinal);
        Assert.Single(r.Err.Trim().Split('\n'));
        Assert.False(Directory.Exists(dir["ckpt"]));
        Assert.Empty(Directory.GetDirectories(dir.Path, ".ckpt*"));
    }
}
