using Microsoft.ML.Tokenizers;
using Pretrain.Onnx.Import;
using Pretrain.Onnx.Runtime;

namespace Pretrain.Onnx.Tests.Import;

/// <summary>MiniLM imported once per test class: the original model.onnx bytes, an ORT session on them, our encoder, the tokenizer.</summary>
public sealed class MiniLmFixture : IDisposable
{
    private readonly Lazy<State> _state = new(Load);

    internal BertImportResult Imported => _state.Value.Imported;

    internal OnnxEncoderSession Original => _state.Value.Original;

    internal BertTokenizer Tokenizer => _state.Value.Tokenizer;

    public void Dispose()
    {
        if (!_state.IsValueCreated)
            return;
        _state.Value.Imported.Model.Dispose();
        _state.Value.Original.Dispose();
    }

    private static State Load()
    {
        var dll = MiniLmPackage.RequireDll();
        var model = AssemblyResources.Read(dll, MiniLmPackage.ModelResource);
        var imported = BertOnnxImporter.Import(model, MiniLmPackage.ModelResource, null);
        var session = OnnxEncoderSession.Open(model, MiniLmPackage.ModelResource, imported.OutputName, threads: 2);
        var tokenizer = BertTokenizer.Create(MiniLmPackage.VocabPath(), new BertOptions { LowerCaseBeforeTokenization = true });
        return new State(imported, session, tokenizer);
    }

    private sealed record State(BertImportResult Imported, OnnxEncoderSession Original, BertTokenizer Tokenizer);
}
