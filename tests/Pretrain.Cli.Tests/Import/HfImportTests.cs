using Pretrain.Cli.Tests;
using Pretrain.Training.Checkpointing;

namespace Pretrain.Cli.Tests.Import;

/// <summary>`pretrain import` of Hugging Face model folders: every architecture, base and task prefixes, shards, tied heads.</summary>
[Collection("torch")]
public sealed class HfImportTests
{
    [Theory]
    [InlineData("gpt2", true, 1)]
    [InlineData("gpt2", false, 2)]
    [InlineData("llama", false, 1)]
    [InlineData("llama", true, 2)]
    [InlineData("bert", true, 1)]
    [InlineData("bert", false, 2)]
    [InlineData("vit", false, 1)]
    [InlineData("vit", true, 2)]
    public void A_model_folder_imports_into_a_verified_checkpoint_in_the_task_layout(string arch, bool taskPrefix, int shards)
    {
        using var dir = new TempDir();
        var expected = HfFolders.Write(dir["hf"], arch, taskPrefix, shards, tied: arch != "llama");
        var r = CliRunner.Run("import", dir["hf"], "--out", dir["ckpt"]);
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("imported ", r.Out, StringComparison.Ordinal);
        HfFolders.AssertSameTensors(expected, dir["ckpt"]);
        Assert.Equal(dir["ckpt"], CheckpointLocator.Resolve(dir["ckpt"]).Directory);
        Assert.Equal(arch, HfFolders.Config(dir["ckpt"])["model_type"]!.GetValue<string>());
        if (arch == "bert")
            Assert.True(File.Exists(dir["ckpt/tokenizer/vocab.txt"]) && File.Exists(dir["ckpt/tokenizer/tokenizer_config.json"]));
    }

    [Fact]
    public void An_imported_decoder_exports_to_onnx_and_validates()
    {
        using var dir = new TempDir();
        HfFolders.Write(dir["hf"], "llama", taskPrefix: true, tied: false);
        Assert.Equal(0, CliRunner.Run("import", dir["hf"], "--out", dir["ckpt"]).Code);
        var export = CliRunner.Run("export", dir["ckpt"], "--out", dir["onnx"]);
        Assert.True(export.Code == 0, export.Err + export.Out);
        Assert.Contains("validated with ONNX Runtime", export.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tied_head_that_differs_from_the_embeddings_is_refused()
    {
        using var dir = new TempDir();
        var tensors = HfFolders.Write(dir["hf"], "gpt2", tied: true);
        // Add an lm_head that is not the embedding matrix: the config says tied, so this is an error, not a silent pick.
        var all = Pretrain.Models.Weights.Safetensors.Load(dir["hf/model.safetensors"]);
        all["lm_head.weight"] = all["transformer.wte.weight"] * 2;
        Pretrain.Models.Weights.Safetensors.Save(dir["hf/model.safetensors"], all);
        var r = CliRunner.Run("import", dir["hf"], "--out", dir["ckpt"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("lm_head.weight", r.Err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir["ckpt"]));
        Assert.NotEmpty(tensors);
    }
}
