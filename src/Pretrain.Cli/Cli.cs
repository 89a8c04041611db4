using System.Runtime.InteropServices;
using Pretrain.Cli.Commands;
using Pretrain.Data;
using Pretrain.Models.Weights;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Import;
using Pretrain.Training.Checkpointing;
using Pretrain.Training.Recipes;

namespace Pretrain.Cli;

/// <summary>Dispatches `pretrain COMMAND ...` and turns user-facing exceptions into one-line messages.</summary>
public static partial class Cli
{
    public const string Usage = """
        pretrain — self-supervised pretraining and transfer learning of transformers on TorchSharp

        usage:
          pretrain run RECIPE [--set key.path=value]... [--resume auto|DIR] [--run-dir DIR] [--no-export] [--verbose]
          pretrain launch --nproc N [--oversubscribe] [--bind-to none|core|socket] RECIPE [options of run]
                          (mpirun -np N on this machine; SLURM: tools/slurm/pretrain.sbatch)
          pretrain data synth text|sft --out DIR [--rows N] [--shards N] [--rows-per-group N] [--seed S]
          pretrain data inspect FILE|DIR|GLOB... [--rows N] [--groups N]
          pretrain export CHECKPOINT --out DIR [--overwrite] [--opset N] [--dtype fp32|fp16] [--with-past] [--no-validate]
                          [--optimize (ONNX Runtime's fused com.microsoft Attention/SkipLayerNormalization/BiasGelu|FastGelu)]
                          [--external-data-threshold BYTES] [--quantize int8 [--quantize-kernel s8|u8] [--min-agreement 0.99]
                          [--eval-data GLOB [--text-column text | --image-column image] [--label-column label] [--eval-rows 1000]]]
          pretrain generate CHECKPOINT|ONNX_DIR --prompt TEXT [--max-new-tokens N] [--temperature T] [--top-k K]
                          [--top-p P] [--seed S]
          pretrain data prepare text FILES|DIRS... --out DIR [--rows-per-group N] [--shards N] [--split-on paragraph|line|file]
          pretrain data prepare jsonl FILES... --out DIR [--text-field text] [--fields a,b,...] [--rows-per-group N] [--shards N]
          pretrain data prepare images DIR --out OUT [--rows-per-group N] [--rows-per-file N] [--seed S]
          pretrain data prepare idx IMAGES.idx[.gz] LABELS.idx[.gz] --out OUT [--rows-per-group N] [--rows-per-file N] [--classes a,b,...]
          pretrain tokenizer train FILES|DIRS... --vocab-size N --out DIR [--overwrite] [--min-frequency F] [--special TOKEN]...
          pretrain import SRC --out DIR [--overwrite] [--arch gpt2|llama|qwen2|qwen3|mistral|phi3|bert|vit] [--vocab FILE] [--num-heads N] [--norm-eps E]
                          [--activation gelu] [--output-name NAME]
                          (SRC: Hugging Face model folder, BERT-family .onnx file, or a .dll embedding one)
          pretrain eval CHECKPOINT --data GLOB [--text-column text] [--label-column label] [--batch N]
                          [--holdout FRACTION --seed S] [--out FILE.json]   (sequence-classification checkpoints)
          pretrain eval CHECKPOINT --data GLOB --probe linear|knn|both [--eval-data GLOB | --holdout F] [--label-column label]
                          [--probe-train-rows N] [--probe-eval-rows N] [--pooling cls|mean] [--seq-len N] [--device D] [--out FILE]
                          (frozen features of a ViT or BERT-style encoder checkpoint)
          pretrain predict CHECKPOINT --data GLOB --out FILE.parquet|FILE.jsonl [--text-column text] [--batch N]
                          (eval and predict on a ViT image classifier read [--image-column image] instead of text)
          pretrain bench-onnx DIR... [--batch B] [--seq T] [--threads N] [--warmup W] [--runs R] [--json]
                          (ONNX Runtime latency of export folders, interleaved; ratios to the first)
          pretrain info
          pretrain --help

        exit codes: 0 success (also a run stopped by a signal after writing its checkpoint), 1 bad input or failed run,
                    2 usage error, 130/143/138 stopped by SIGINT/SIGTERM/SIGUSR1 outside training (nothing half-written kept)
        """;

    /// <summary>Options of any command that never take a value.</summary>
    private static readonly string[] Flags = ["--with-past", "--optimize", "--no-validate", "--no-export", "--json"];

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        bool verbose = args.Contains("--verbose");
        args = args.Where(a => a != "--verbose").ToArray();
        try
        {
            if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
            {
                stdout.WriteLine(Usage);
                return args.Length == 0 ? 2 : 0;
            }
            var rest = new ArgList(args[1..], Flags);
            int code = args[0] switch
            {
                "run" => RunCommand.Execute(rest, stdout),
                "launch" => LaunchCommand.Execute(args[1..], verbose, stdout, stderr),
                "data" => DataCommand.Execute(rest, stdout),
                "tokenizer" => TokenizerCommand.Execute(rest, stdout),
                "info" => InfoCommand.Execute(rest, stdout),
                "export" => ExportCommand.Execute(rest, stdout),
                "generate" => GenerateCommand.Execute(rest, stdout, stderr),
                "import" => ImportCommand.Execute(rest, stdout),
                "eval" => EvalCommand.Execute(rest, stdout),
                "predict" => PredictCommand.Execute(rest, stdout),
                "bench-onnx" => BenchOnnxCommand.Execute(rest, stdout),
                _ => throw new UsageException($"unknown command '{args[0]}'. Commands: run, launch, data, tokenizer, import, export, generate, eval, predict, bench-onnx, info. See pretrain --help."),
            };
            // A signal outside training ends with its code even when the phase finished inside the grace period.
            return SignalScope.Current is { ExitCode: { } stopped, StoppedTraining: false } ? stopped : code;
        }
        catch (Exception e) when (SignalScope.Current is { ExitCode: { } stopped } && e is OperationCanceledException or AggregateException { InnerException: OperationCanceledException })
        {
            stderr.WriteLine("stopped.");
            return stopped;
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (Exception e) when (IsUserFacing(e))
        {
            stderr.WriteLine($"error: {WithFlagNames(e.Message)}");
            if (verbose) stderr.WriteLine(e);
            return 1;
        }
        catch (Exception e)
        {
            stderr.WriteLine($"error: {e.GetType().Name}: {e.Message}");
            stderr.WriteLine(verbose ? e.ToString() : "(run again with --verbose for the stack trace)");
            return 1;
        }
    }

    /// <summary>
    /// The data layer names settings as KEY.setting (data.train.files, data.eval.label_column); commands whose key is
    /// a flag (eval, predict: --data) would print flags that do not exist. --data.files → --data,
    /// --data.label_column → --label-column (likewise text_, image_column).
    /// </summary>
    internal static string WithFlagNames(string message) =>
        FlagColumn().Replace(FlagFiles().Replace(message, "$1"), "--$1-column");

    [System.Text.RegularExpressions.GeneratedRegex(@"(--[a-z][a-z-]*)\.files\b")]
    private static partial System.Text.RegularExpressions.Regex FlagFiles();

    [System.Text.RegularExpressions.GeneratedRegex(@"--[a-z][a-z-]*\.([a-z]+)_column\b")]
    private static partial System.Text.RegularExpressions.Regex FlagColumn();

    private static bool IsUserFacing(Exception e) =>
        e is RecipeException or DataException or Pretrain.Core.OutputFolderException or CheckpointException or Pretrain.Training.NumericalFaultException
            or WeightsException or OnnxExportException or OnnxImportException
            or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or UnauthorizedAccessException
            or ExternalException;
}
