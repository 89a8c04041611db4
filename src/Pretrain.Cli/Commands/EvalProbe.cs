using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sources;
using Pretrain.Data.Text;
using Pretrain.Data.Vision;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;
using Pretrain.Training.Checkpointing;
using Pretrain.Training.Recipes;
using Pretrain.Training.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Cli.Commands;

/// <summary>
/// `pretrain eval CHECKPOINT --data GLOB --probe linear|knn|both`: how good the frozen features of a checkpoint's
/// encoder are. A ViT (vit-*-mae, vit-*-simclr runs) gives pooled image features, a BERT-style encoder (mlm, simcse,
/// classify runs, imported models) pooled sentence embeddings; a linear probe and/or k-NN (the probes recipe evals use:
/// <see cref="ImageDataProbe"/>, <see cref="TextDataProbe"/>) are fitted on labelled rows of --data and scored on
/// --eval-data, or on the rows of --data a seeded --holdout share sets aside. Rows are drawn in the seeded order
/// (row groups shuffled, then rows within each): a file sorted by label in large row groups still gives one class
/// first, and a probe whose rows hold a single class is refused with a message.
/// </summary>
public static class EvalProbe
{
    private static readonly string[] Kinds = ["linear", "knn", "both"];

    public static int Execute(ArgList args, string kind, TextWriter stdout)
    {
        if (!Kinds.Contains(kind)) throw new UsageException($"--probe must be linear, knn or both, got '{kind}'.");
        if (args.Positionals.Count != 1) throw new UsageException("pretrain eval needs exactly one CHECKPOINT (a run folder, step folder or imported model folder).");
        var data = args.Many("--data");
        if (data.Count == 0) throw new UsageException("pretrain eval --probe needs --data GLOB (labelled Parquet files).");
        var evalData = args.Many("--eval-data");
        string labelColumn = args.Option("--label-column") ?? "label";
        string textColumn = args.Option("--text-column") ?? "text", imageColumn = args.Option("--image-column") ?? "image";
        int trainRows = args.Int("--probe-train-rows", 2000), evalRows = args.Int("--probe-eval-rows", 1000);
        double holdout = args.Double("--holdout", 0.2);
        int seed = args.Int("--seed", 1337);
        string? pooling = args.Option("--pooling"), outPath = args.Option("--out");
        int? seqLen = args.Option("--seq-len") is null ? null : args.Int("--seq-len", 0);
        var device = Device(args.Option("--device") ?? "cpu");
        args.RejectUnknown();
        if (trainRows < 2 || evalRows < 1) throw new UsageException("--probe-train-rows must be at least 2 and --probe-eval-rows at least 1.");
        if (evalData.Count == 0 && holdout is <= 0 or >= 1) throw new UsageException($"--holdout must be in (0, 1) without --eval-data, got {holdout}.");
        if (pooling is not (null or "cls" or "mean")) throw new UsageException($"--pooling must be cls or mean, got '{pooling}'.");

        var dir = CheckpointLocator.Resolve(args.Positionals[0]).Directory;
        var configPath = Path.Combine(dir, "config.json");
        if (!File.Exists(configPath)) throw new UsageException($"{dir} has no config.json; it is not a checkpoint folder.");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        var weights = Path.Combine(dir, "model.safetensors");
        if (!File.Exists(weights))
            throw new UsageException($"{dir} has no model.safetensors (an adapter-only LoRA checkpoint?); probe a full checkpoint.");
        var trainFiles = FileResolver.Resolve(data, "--data");
        var evalFiles = evalData.Count > 0 ? FileResolver.Resolve(evalData, "--eval-data") : null;
        double split = evalFiles is null ? holdout : 0;
        var started = DateTime.UtcNow;

        string modelType = config["model_type"]?.GetValue<string>() ?? "";
        Dictionary<string, double> metrics;
        (int Train, int Eval) used;
        string what;
        if (modelType is "vit" or "pretrain-vit" or "pretrain-mae")
        {
            var vitConfig = HfVitLayout.ConfigFromJson(config);
            using var vit = new VisionTransformer(vitConfig);
            using (NewDisposeScope())
                HfVitLayout.LoadHf(vit, Safetensors.Load(weights));
            vit.to(device).eval();
            var transform = ImageTransform(dir, vitConfig, out what);
            ImageStreamOptions Options(IReadOnlyList<string> files, string key, bool heldOut) => new()
            {
                Files = files,
                ImageColumn = imageColumn,
                LabelColumn = labelColumn,
                Seed = seed,
                Shuffle = true,
                MaxEpochs = 1,
                Augment = false,
                Transform = transform,
                HoldoutFraction = files == trainFiles ? split : 0,
                HoldoutSide = heldOut,
                ConfigKey = key,
            };
            var train = Options(trainFiles, "--data", false);
            var eval = evalFiles is null ? Options(trainFiles, "--data", true) : Options(evalFiles, "--eval-data", false);
            var probe = new ImageDataProbe(kind, trainRows, evalRows, () => new ImageStream(train), () => new ImageStream(eval), device, seed);
            metrics = probe.Run(x => vit.Pool(vit.call(x)));
            used = probe.RowsUsed;
            what = $"vit {vitConfig.EmbedDim}d × {vitConfig.NumLayers}, {vitConfig.GlobalPool} pooling; {what}";
        }
        else
        {
            var encoderConfig = HfEncoderLayout.ConfigFromJson(config);
            var tokenizerDir = Path.Combine(dir, "tokenizer");
            if (!Directory.Exists(tokenizerDir)) throw new UsageException($"{dir} has no tokenizer/ folder; probe a checkpoint written by pretrain run or pretrain import.");
            var tokenizer = TokenizerFactory.Load(tokenizerDir);
            using var encoder = new EncoderLm(encoderConfig);
            using (NewDisposeScope())
                HfEncoderLayout.LoadHf(encoder, Safetensors.Load(weights));   // heads (cls.*, classifier.*) are skipped
            encoder.to(device).eval();
            pooling ??= config["pretrain"]?["pooling"]?.GetValue<string>() ?? "cls";
            int maxTokens = Math.Min(seqLen ?? config["pretrain"]?["seq_len"]?.GetValue<int>() ?? 128, encoderConfig.MaxSeqLen) - 2;
            if (maxTokens < 1) throw new UsageException($"--seq-len must be at least 3, got {maxTokens + 2}.");
            LabelledTextOptions Options(IReadOnlyList<string> files, string key, bool heldOut) => new()
            {
                Files = files,
                TextColumn = textColumn,
                LabelColumn = labelColumn,
                MaxTokens = maxTokens,
                Seed = seed,
                Shuffle = true,
                MaxEpochs = 1,
                HoldoutFraction = files == trainFiles ? split : 0,
                HoldoutSide = heldOut,
                ConfigKey = key,
            };
            var train = Options(trainFiles, "--data", false);
            var eval = evalFiles is null ? Options(trainFiles, "--data", true) : Options(evalFiles, "--eval-data", false);
            var probe = new TextDataProbe(kind, trainRows, evalRows, () => new LabelledTextStream(train, tokenizer),
                () => new LabelledTextStream(eval, tokenizer), tokenizer, device, seed);
            string pool = pooling;
            metrics = probe.Run((ids, mask) =>
            {
                var hidden = encoder.call(ids, mask, null);                                   // (B, T, C)
                return pool == "cls" ? hidden[.., 0] : EncoderLm.MeanPool(hidden, mask);
            });
            used = probe.RowsUsed;
            what = $"bert {encoderConfig.EmbedDim}d × {encoderConfig.NumLayers}, {pooling} pooling, {maxTokens + 2} tokens";
        }

        var result = new JsonObject
        {
            ["checkpoint"] = Path.GetFullPath(dir),
            ["features"] = what,
            ["data"] = new JsonArray([.. trainFiles.Select(f => (JsonNode)f)]),
            ["eval_data"] = evalFiles is null ? null : new JsonArray([.. evalFiles.Select(f => (JsonNode)f)]),
            ["holdout"] = evalFiles is null ? holdout : null,
            ["seed"] = seed,
            ["probe"] = kind,
            ["probe_train_rows"] = trainRows,
            ["probe_eval_rows"] = evalRows,
            ["train_rows_used"] = used.Train,   // fewer than asked when the split has fewer labelled rows
            ["eval_rows_used"] = used.Eval,
            ["seconds"] = (DateTime.UtcNow - started).TotalSeconds,
        };
        foreach (var (k, v) in metrics)
            result[k["eval_probe_".Length..] + "_accuracy"] = v;   // linear_accuracy, knn_accuracy, linear_pixels_accuracy
        stdout.WriteLine($"probe {dir}: {what}; fitted on {used.Train} rows, scored on {used.Eval}");
        foreach (var (k, v) in metrics)
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {k["eval_probe_".Length..].Replace('_', ' ')} accuracy {v:F4}"));
        if (outPath is not null)
        {
            StagedOutput.WriteFile(outPath, path => File.WriteAllText(path, result.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));
            stdout.WriteLine($"wrote {outPath}");
        }
        return 0;
    }

    /// <summary>
    /// The eval transform of the run that wrote the checkpoint (its recipe.yaml two folders up: normalisation and
    /// size as in training), or resize + centre crop to the model's size when there is none.
    /// </summary>
    private static ImageTransformOptions ImageTransform(string stepDir, VitConfig config, out string source)
    {
        var recipePath = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(stepDir))!)!, "recipe.yaml");
        if (File.Exists(recipePath))
        {
            source = $"transform of {recipePath}";
            return ImageData.Transform(RecipeLoader.LoadFile(recipePath));
        }
        source = "resize + centre crop, no normalisation (no run recipe.yaml found)";
        return new ImageTransformOptions { Channels = config.NumChannels, Resize = config.ImageSize, CenterCrop = config.ImageSize };
    }

    private static Device Device(string name) => name switch
    {
        "auto" => cuda.is_available() ? CUDA : CPU,
        "cpu" => CPU,
        _ when name.StartsWith("cuda", StringComparison.Ordinal) && cuda.is_available() => new Device(name),
        _ when name.StartsWith("cuda", StringComparison.Ordinal) => throw new UsageException($"--device {name}: no CUDA device is available in this build."),
        _ => throw new UsageException($"--device must be cpu, cuda, cuda:N or auto, got '{name}'."),
    };
}
