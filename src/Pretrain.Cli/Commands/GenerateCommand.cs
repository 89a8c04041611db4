using System.Globalization;
using System.Text.Json.Nodes;
using Pretrain.Data.Text;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Generation;
using Pretrain.Onnx.Runtime;
using Pretrain.Training.Checkpointing;

namespace Pretrain.Cli.Commands;

/// <summary>
/// `pretrain generate CHECKPOINT|ONNX_DIR --prompt TEXT`: continues the prompt and prints prompt + continuation.
/// An export folder (it holds model.onnx) runs in ONNX Runtime, through the key/value cache when exported
/// --with-past; anything else is resolved as a checkpoint and runs in TorchSharp.
/// </summary>
public static class GenerateCommand
{
    public static int Execute(ArgList args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Positionals.Count != 1) throw new UsageException("pretrain generate needs exactly one CHECKPOINT or ONNX_DIR.");
        var prompt = args.Option("--prompt") ?? throw new UsageException("pretrain generate needs --prompt TEXT.");
        var options = new GenerationOptions
        {
            MaxNewTokens = args.Int("--max-new-tokens", 50),
            Temperature = Double(args, "--temperature", 0),
            TopK = args.Int("--top-k", 0),
            TopP = Double(args, "--top-p", 1),
            Seed = args.Int("--seed", 0),
        };
        args.RejectUnknown();
        try
        {
            options.Check();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }

        var path = args.Positionals[0];
        var onnx = File.Exists(Path.Combine(path, "model.onnx"));
        var folder = onnx ? path : CheckpointLocator.Resolve(path).Directory;
        var tokenizerDir = Path.Combine(folder, "tokenizer");
        if (!Directory.Exists(tokenizerDir))
            throw new FileNotFoundException($"{tokenizerDir} does not exist: generate needs the tokenizer saved beside the model.");
        var tokenizer = TokenizerFactory.Load(tokenizerDir);
        var configPath = Path.Combine(folder, "config.json");
        var config = DecoderCheckpoint.ReadConfig(configPath);
        var eos = (JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject)?["eos_token_id"]?.GetValue<int>();

        options = options with { VocabLimit = tokenizer.VocabSize };
        var ids = tokenizer.Encode(prompt);
        if (ids.Length == 0)
            ids = [eos ?? tokenizer.EosId]; // an empty prompt starts from the document separator
        if (ids.Length >= config.MaxSeqLen)
            throw new UsageException($"The prompt has {ids.Length} tokens; the model takes at most {config.MaxSeqLen}.");

        List<int> generated;
        if (onnx)
        {
            using var session = OnnxDecoderSession.Open(folder);
            using var cache = session.WithPast ? session.NewCache(1) : null;
            generated = TokenGenerator.Generate(TokenGenerator.Onnx(session, cache), ids, options, eos, config.MaxSeqLen);
        }
        else
        {
            using var model = DecoderCheckpoint.Load(folder);
            generated = TokenGenerator.Generate(TokenGenerator.Torch(model), ids, options, eos, config.MaxSeqLen);
        }
        stdout.WriteLine(tokenizer.Decode([.. ids, .. generated]));
        if (generated.Count < options.MaxNewTokens && (generated.Count == 0 || generated[^1] != eos) && ids.Length + generated.Count >= config.MaxSeqLen)
        {
            // Said on stderr so the text on stdout stays clean for pipes.
            stderr.WriteLine($"note: stopped after {generated.Count} of {options.MaxNewTokens} new tokens: prompt and continuation reached the model's context window ({config.MaxSeqLen} tokens).");
        }
        return 0;
    }

    private static double Double(ArgList args, string name, double fallback)
    {
        var v = args.Option(name);
        if (v is null) return fallback;
        return double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d
            : throw new UsageException($"{name} must be a number, got '{v}'.");
    }
}
