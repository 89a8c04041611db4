using System.Text.Json.Nodes;
using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Runtime;
using Pretrain.Tests;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pretrain.Cli.Tests.Import;

/// <summary>
/// The fine-tuning recipes end to end on each layout of the llama family: a tiny random Hugging Face folder
/// (Reference/llama_family_reference.py, the import tests' writer: llama3 bf16 in two shards, qwen2 tied with q/k/v
/// biases, qwen3 bf16 with q/k norms, mistral window 4, phi3 fused, window 6) plus a tiny byte-level tokenizer.json
/// holding every chat marker → <c>pretrain import</c> → 20 LoRA SFT steps of recipes/finetune/qwen2-lora-sft.yaml (or
/// llama3-qlora-sft.yaml with an nf4 or int8 base) in the model's chat format → <c>pretrain export --with-past</c>
/// (validated against ONNX Runtime by the exporter) → ONNX Runtime's logits, full and through the KV cache, equal our
/// own forward of base + adapters, unmerged (for QLoRA: on the quantized base, dequantized per block in forward), to
/// 1e-4. The adapters must have moved the logits (≥ 1e-2), and for QLoRA the export must not be the float32 base plus
/// adapters (the merge goes into the quantized-then-dequantized base the adapter was trained against).
/// About 8–12 s per case on the shared 2-core machine (import, 20 steps, export with validation).
/// </summary>
[Collection("torch")]
public sealed class FineTuneExportTests
{
    private const double Tolerance = 1e-4;
    private const int Batch = 2, T = 12;
    private readonly ITestOutputHelper _output;

    public FineTuneExportTests(ITestOutputHelper output) => _output = output;

    [ReferenceTheory(ReferenceTool.PythonTorch)]
    [InlineData("llama3", "llama3-qlora-sft.yaml", "nf4")]
    [InlineData("llama3", "llama3-qlora-sft.yaml", "int8")]
    [InlineData("qwen2", "qwen2-lora-sft.yaml", "none")]
    [InlineData("qwen3", "qwen2-lora-sft.yaml", "none")]
    [InlineData("mistral", "qwen2-lora-sft.yaml", "none")]
    [InlineData("phi3", "qwen2-lora-sft.yaml", "none")]
    public void Import_lora_sft_export_and_onnx_runtime_agrees_with_our_forward(string layout, string recipe, string quantize)
    {
        ReferenceTools.Require(ReferenceTool.PythonTorch);
        using var dir = new TempDir();
        WriteHfFolder(dir["hf"], layout);
        var import = CliRunner.Run("import", dir["hf"], "--out", dir["base"]);
        Assert.True(import.Code == 0, import.Err + import.Out);

        var run = CliRunner.Run([.. SmokeRun(Path.Combine(CliRunner.RepoRoot, "recipes", "finetune", recipe), dir["base"], dir["run"], Template(layout)),
            "--set", $"lora.quantize_base={quantize}"]);
        Assert.True(run.Code == 0, run.Err + run.Out);
        var losses = Losses(dir["run"]);
        _output.WriteLine($"{layout} ({quantize}): loss {losses[0]:F3} → {losses[^1]:F3} over {losses.Count} steps");
        Assert.True(losses.TakeLast(5).Average() < losses.Take(5).Average() - 0.05, $"the loss did not fall: {string.Join(", ", losses.Select(l => l.ToString("F3")))}");
        var step = Path.Combine(dir["run"], "checkpoints", "step-00000020");
        Assert.False(File.Exists(Path.Combine(step, "model.safetensors")), "a LoRA run writes adapters only");
        Assert.Equal(quantize, PeftAdapterLayout.ReadConfig(step, "llama").QuantizeBase);

        var export = CliRunner.Run("export", dir["run"], "--out", dir["onnx"], "--with-past");
        Assert.True(export.Code == 0, export.Err + export.Out);
        Assert.Contains("validated with ONNX Runtime", export.Out, StringComparison.Ordinal);

        using var scope = torch.NewDisposeScope();
        var ids = RandomIds(vocab: VocabSize, seed: layout.Length);
        var adapted = OurLogits(dir["base"], step, ids, quantize, adapters: true);
        using var session = OnnxDecoderSession.Open(dir["onnx/model.onnx"]);
        var ort = session.Logits(ids, Batch, T);
        AssertClose($"{layout} {quantize}: ONNX Runtime vs our forward", adapted, ort, Tolerance);
        const int prompt = 5;
        using var cache = session.NewCache(Batch);
        session.Step(Columns(ids, 0, prompt), Batch, prompt, cache);
        var continued = session.Step(Columns(ids, prompt, T - prompt), Batch, T - prompt, cache);
        AssertClose($"{layout} {quantize}: ONNX Runtime with the KV cache", Positions(adapted, prompt), continued, Tolerance);

        // The adapters changed the model, so the agreement above covers the merge.
        var baseOnly = OurLogits(dir["base"], step, ids, quantize, adapters: false);
        Assert.True(MaxDiff(baseOnly, ort) > 1e-2, $"{layout}: the export equals the base without adapters ({MaxDiff(baseOnly, ort):g3})");
        if (quantize != "none")
        {
            // QLoRA: merged into the dequantized base, not into the float32 one.
            var floatBase = OurLogits(dir["base"], step, ids, "none", adapters: true);
            var d = MaxDiff(floatBase, ort);
            _output.WriteLine($"{quantize}: max |float32 base + adapters − export| = {d:g3}");
            Assert.True(d > 1e-3, $"{quantize}: the export equals the float32 base plus adapters ({d:g3}): the quantized base was not merged");
        }
    }

    [ReferenceFact(ReferenceTool.PythonTorch)]
    public void The_qlora_recipe_refuses_a_full_save_with_the_key_named()
    {
        ReferenceTools.Require(ReferenceTool.PythonTorch);
        using var dir = new TempDir();
        WriteHfFolder(dir["hf"], "llama3");
        Assert.Equal(0, CliRunner.Run("import", dir["hf"], "--out", dir["base"]).Code);
        var r = CliRunner.Run([.. SmokeRun(Path.Combine(CliRunner.RepoRoot, "recipes", "finetune", "llama3-qlora-sft.yaml"), dir["base"], dir["run"], "llama3"),
            "--set", "lora.save_full=true"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("lora.quantize_base", r.Err, StringComparison.Ordinal);
    }

    /// <summary>The vocabulary of the tiny models: 256 bytes + <see cref="Specials"/>, rounded up.</summary>
    private const int VocabSize = 272;

    /// <summary>Every chat template's markers (docs/tokenizers.md), and the eos tokens `import` names for these layouts.</summary>
    private static readonly string[] Specials =
    [
        "<|endoftext|>", "</s>", "<s>", "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
        "<|im_start|>", "<|im_end|>", "[INST]", "[/INST]", "<|user|>", "<|end|>", "<|assistant|>",
    ];

    private static string Template(string layout) => layout switch
    {
        "llama3" => "llama3",
        "qwen2" or "qwen3" => "qwen",
        _ => layout,
    };

    /// <summary>The recipe as written, with --set overrides that shrink it to 20 steps of a tiny model (what a user would change for a dry run).</summary>
    private static List<string> SmokeRun(string recipe, string init, string runDir, string template)
    {
        var args = new List<string> { "run", recipe, "--run-dir", runDir };
        foreach (var set in new[]
        {
            $"init.checkpoint={init}", $"tokenizer.chat_template={template}", "lora.rank=4", "optimizer.lr=1.0e-2",
            "data.train.synthetic.rows=400", "data.train.synthetic.shards=2", "data.train.synthetic.rows_per_group=50",
            "data.eval.max_batches=1", "objective.exact_match_rows=2", "schedule.warmup_steps=0",
            "train.max_steps=20", "train.seq_len=48", "train.micro_batch_size=4", "train.grad_accum_steps=1",
            "train.log_every=1", "train.eval_every=20", "train.checkpoint_every=20",
        })
            args.AddRange(["--set", set]);
        return args;
    }

    /// <summary>The import tests' random folder of <paramref name="layout"/> with room for the byte-level vocabulary, and its tokenizer.json.</summary>
    private static void WriteHfFolder(string dir, string layout)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "Reference", "llama_family_reference.py");
        var (code, output) = ReferenceTools.RunPython([script, layout, dir, VocabSize.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.True(code == 0, $"The reference script failed ({code}): {output}");
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), TinyTokenizerJson());
    }

    /// <summary>A byte-level BPE tokenizer.json: GPT-2's 256 byte symbols (id = byte), no merges, <see cref="Specials"/> as added tokens 256, 257, ….</summary>
    internal static string TinyTokenizerJson()
    {
        // GPT-2's byte-to-symbol table: printable bytes stand for themselves, the other 68 for U+0100, U+0101, … in byte order.
        var vocab = new JsonObject();
        for (int b = 0, shifted = 0; b < 256; b++)
        {
            bool printable = b is >= 33 and <= 126 or >= 161 and <= 172 or >= 174;
            vocab[((char)(printable ? b : 256 + shifted++)).ToString()] = b;
        }
        var added = new JsonArray();
        for (int i = 0; i < Specials.Length; i++)
            added.Add(new JsonObject { ["id"] = 256 + i, ["content"] = Specials[i], ["special"] = true, ["normalized"] = false });
        return new JsonObject
        {
            ["added_tokens"] = added,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = new JsonArray() },
        }.ToJsonString();
    }

    /// <summary>
    /// Logits of base + adapters as the trainer computes them: the adapters unmerged, the base quantized as the adapter
    /// config says (or left float32 when <paramref name="quantize"/> is none); without adapters when asked.
    /// </summary>
    private static float[] OurLogits(string baseDir, string step, long[] ids, string quantize, bool adapters)
    {
        var lora = PeftAdapterLayout.ReadConfig(step, "llama") with { QuantizeBase = quantize };
        var weightsFile = Path.Combine(baseDir, "model.safetensors");
        using var model = new DecoderLm(DecoderCheckpoint.ReadConfig(Path.Combine(baseDir, "config.json")), lora);
        var weights = Safetensors.Load(weightsFile);
        HfDecoderLayout.LoadHf(model, weights);
        foreach (var t in weights.Values)
            t.Dispose();
        if (adapters)
            PeftAdapterLayout.Load(step, model, weightsFile);
        if (quantize != "none")
            LoraModel.QuantizeBase(model, quantize);
        model.eval();
        return DecoderCheckpoint.Logits(model, ids, Batch, T);
    }

    private static long[] RandomIds(int vocab, int seed)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, Batch * T).Select(_ => (long)rng.Next(vocab))];
    }

    private static List<double> Losses(string runDir) =>
        [.. File.ReadAllLines(Path.Combine(runDir, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!)
            .Where(n => n["loss"] is JsonValue).Select(n => n["loss"]!.GetValue<double>())];

    private static double MaxDiff(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();

    private void AssertClose(string what, float[] expected, float[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        var diff = actual.Any(float.IsNaN) ? double.PositiveInfinity : MaxDiff(expected, actual);
        var scale = expected.Max(x => Math.Abs((double)x));
        _output.WriteLine($"{what}: max |diff| = {diff:g3}, logits up to {scale:g3}");
        Assert.True(scale > 1, $"{what}: logits too small ({scale}) for the comparison to mean anything");
        Assert.True(diff <= tolerance, $"{what}: max |diff| = {diff:g3} > {tolerance}");
    }

    /// <summary>Columns [from, from + count) of (B, T) row-major ids.</summary>
    private static long[] Columns(long[] ids, int from, int count) =>
        [.. Enumerable.Range(0, Batch).SelectMany(b => ids.Skip(b * T + from).Take(count))];

    /// <summary>Positions [from, T) of (B, T, V) row-major logits.</summary>
    private static float[] Positions(float[] logits, int from) =>
        [.. Enumerable.Range(0, Batch).SelectMany(b => logits.Skip((b * T + from) * VocabSize).Take((T - from) * VocabSize))];
}
