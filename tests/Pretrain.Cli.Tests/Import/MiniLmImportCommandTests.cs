using Pretrain.Cli.Tests;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Onnx.Import;
using Pretrain.Onnx.Runtime;
using Pretrain.Onnx.Tests.Import;
using Pretrain.Training.Checkpointing;

namespace Pretrain.Cli.Tests.Import;

/// <summary>`pretrain import` of the MiniLM package DLL, then the checkpoint reloaded from disk matches ONNX Runtime on the original.</summary>
[Collection("torch")]
public sealed class MiniLmImportCommandTests
{
    [MiniLmFact]
    public void The_package_dll_imports_and_the_checkpoint_reproduces_the_original()
    {
        using var dir = new TempDir();
        var dll = MiniLmPackage.RequireDll();
        var r = CliRunner.Run("import", dll, "--out", dir["minilm"]);
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("inferred heads 12", r.Out, StringComparison.Ordinal);
        Assert.Contains("checked against ONNX Runtime", r.Out, StringComparison.Ordinal);
        CheckpointLocator.Verify(dir["minilm"]);
        var tokenizer = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(dir["minilm/tokenizer/tokenizer_config.json"]))!;
        Assert.Equal(("wordpiece", true), (tokenizer["kind"]!.GetValue<string>(), tokenizer["lower_case"]!.GetValue<bool>()));
        Assert.DoesNotContain('\r', File.ReadAllText(dir["minilm/tokenizer/vocab.txt"]));

        var config = HfEncoderLayout.ConfigFromJson(HfFolders.Config(dir["minilm"]));
        using var model = new EncoderLm(config);
        var weights = Safetensors.Load(dir["minilm/model.safetensors"]);
        HfEncoderLayout.LoadHf(model, weights);
        model.eval();
        using var session = OnnxEncoderSession.Open(AssemblyResources.Read(dll, MiniLmPackage.ModelResource), "MiniLM", threads: 2);
        Assert.True(EncoderOutputs.Check(model, session) <= 1e-4);

        // Importing again replaces the earlier import only with --overwrite.
        Assert.Equal(1, CliRunner.Run("import", dll, "--out", dir["minilm"]).Code);
        Assert.Equal(0, CliRunner.Run("import", dll, "--out", dir["minilm"], "--overwrite").Code);
    }
}
