using System.Diagnostics;
using System.Text.Json;
using Pretrain.Core;
using Pretrain.Data.Sampling;
using Pretrain.Distributed;
using Pretrain.Models.Sizing;
using Pretrain.Training.Checkpointing;
using Pretrain.Training.Distributed;
using Pretrain.Training.Metrics;
using Pretrain.Training.Optim;
using Pretrain.Training.Precision;
using Pretrain.Training.Recipes;
using Pretrain.Training.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training;

/// <summary>
/// Turns a recipe into a run: resolves the run folder and resume rules, builds tokenizer, data streams, model,
/// optimizer and schedule, runs the <see cref="Trainer"/>, and writes summary.json. The only place that sees a
/// whole <see cref="Recipe"/>.
/// </summary>
public static class RecipeRunner
{
    public static RunResult Run(RunOptions options, ITrainingObserver? observer = null, CancellationToken cancel = default)
    {
        observer ??= NullTrainingObserver.Instance;
        var ranks = options.Collectives ?? SingleProcess.Instance;
        var requested = RecipeLoader.LoadFile(options.RecipePath, options.Overrides);

        // Rank 0 resolves the run folder and the checkpoint (and takes the lock); the others follow its answer.
        FolderLock? held = null;
        var resolved = RankZero.Run(ranks, () => ResolveRunFolder(options, requested, out held));
        using var runLock = held;
        var (runDir, from) = ranks.WorldSize == 1 ? resolved : FollowRankZero(ranks, resolved);
        foreach (var w in ranks.Rank == 0 ? from?.Warnings ?? [] : []) observer.OnMessage(w);

        var recipe = requested;
        if (from is not null)
        {
            // The saved recipe wins; --set may change only keys that do not alter work already done.
            string savedPath = Path.Combine(from.Directory, "recipe.yaml");
            var saved = RecipeLoader.LoadFile(savedPath);
            recipe = RecipeLoader.LoadFile(savedPath, options.Overrides);
            var refused = RecipeLoader.ForbiddenResumeChanges(saved, recipe);
            if (refused.Count > 0)
                throw new RecipeException($"Cannot change {string.Join(", ", refused)} when resuming {runDir}: the run's saved recipe fixes them. Start a new run (--run-dir) to change them.");
            observer.OnMessage($"resuming from {Path.GetFileName(from.Directory)} (step {from.Step})");
        }

        string recipeYaml = RecipeLoader.ToYaml(recipe);
        if (ranks.Rank == 0) File.WriteAllText(Path.Combine(runDir, "recipe.yaml"), recipeYaml);
        return Train(recipe, recipeYaml, runDir, from, ranks, observer, cancel);
    }

    /// <summary>
    /// Rank 0's part of <see cref="Run"/>: the run folder, its lock (<paramref name="runLock"/>, held by the caller
    /// until the run ends) and the checkpoint to resume from, under the resume rules (DESIGN.md "Run directory").
    /// </summary>
    private static (string RunDir, ResolvedCheckpoint? From) ResolveRunFolder(RunOptions options, Recipe requested, out FolderLock? runLock)
    {
        runLock = null;
        string runDir = Path.GetFullPath(options.RunDir ?? Path.Combine("runs", requested.Name));
        string checkpointsDir = Path.Combine(runDir, "checkpoints");

        // Resume rules (DESIGN.md "Run directory"): explicit, or auto; never silently over an old run.
        ResolvedCheckpoint? from = null;
        if (options.Resume is not null and not "auto")
        {
            from = CheckpointLocator.Resolve(options.Resume);
            if (options.RunDir is null) runDir = RunFolderOf(from.Directory);
            checkpointsDir = Path.Combine(runDir, "checkpoints");
        }

        // One writer per run folder (docs/outputs-and-locks.md), held until this method returns or the process dies.
        // With several ranks, rank 0 takes it and the others write nothing here.
        Directory.CreateDirectory(runDir);
        var acquired = FolderLock.Acquire(Path.Combine(runDir, ".lock"), $"run folder {runDir} (pretrain run)", deleteOnRelease: true);
        try
        {
            CheckpointManager.RemoveStaleTemps(checkpointsDir);
            if (options.Resume is null)
            {
                if (Directory.Exists(checkpointsDir) && Directory.EnumerateDirectories(checkpointsDir, "step-*").Any(d => !d.EndsWith(".tmp", StringComparison.Ordinal)))
                    throw new RecipeException($"Run folder {runDir} already has checkpoints. Pass --resume auto to continue it, or --run-dir another folder to start afresh.");
            }
            else if (options.Resume == "auto")
            {
                if (CheckpointLocator.TryFindLatest(runDir, out var found)) from = found;
            }
        }
        catch
        {
            acquired.Dispose();
            throw;
        }
        runLock = acquired;
        return (runDir, from);
    }

    /// <summary>Every rank learns rank 0's run folder and checkpoint; ranks &gt; 0 verify that step folder themselves.</summary>
    private static (string RunDir, ResolvedCheckpoint? From) FollowRankZero(ICollectives ranks, (string RunDir, ResolvedCheckpoint? From) mine)
    {
        string said = ranks.Rank == 0 ? $"{mine.RunDir}\n{mine.From?.Directory}" : "";
        var parts = System.Text.Encoding.UTF8.GetString(ranks.BroadcastBytes(System.Text.Encoding.UTF8.GetBytes(said))).Split('\n');
        if (ranks.Rank == 0) return mine;
        return (parts[0], parts[1].Length == 0 ? null : CheckpointLocator.Resolve(parts[1]));
    }

    /// <summary>Builds the task, optimizer and parts on this rank and trains; rank 0 writes summary.json.</summary>
    private static RunResult Train(Recipe recipe, string recipeYaml, string runDir, ResolvedCheckpoint? from, ICollectives ranks,
        ITrainingObserver observer, CancellationToken cancel)
    {
        bool lead = ranks.Rank == 0;
        string checkpointsDir = Path.Combine(runDir, "checkpoints");
        var train = recipe.Train;
        if (train.Threads > 0) set_num_threads(train.Threads);
        random.manual_seed(train.Seed);
        var device = ResolveDevice(train.Device, ranks);
        var precision = PrecisionPolicy.Resolve(train.Precision, device.type);

        var resumeState = from is null ? null : CheckpointReader.LoadState(from.Directory, from.Step);
        var context = new TaskContext(recipe, runDir, device,
            resumeState is null ? null : DataCursor.FromJson(resumeState.Cursor.GetRawText()), ranks);
        RankZero.Run(ranks, () => context.Files);   // synthetic data is written once, by rank 0, before the others read it
        ITrainingTask created;
        using (ModelMemory.Training(device.type == DeviceType.CPU ? "cpu" : device.ToString()))
            created = TrainingTasks.Create(context); // models are refused before they are built if they cannot fit
        using var task = created;
        var model = task.Model;
        precision.PrepareModel(model, recipe.Lora?.BaseDtype ?? "fp32");   // before the optimizer: it holds the parameters
        var data = recipe.Data;

        using var optimizer = new AdamW(model.named_parameters().Select(p => (p.name, p.parameter)), task.Decays, recipe.Optimizer.Lr, recipe.Optimizer.Betas[0], recipe.Optimizer.Betas[1],
            recipe.Optimizer.Eps, recipe.Optimizer.WeightDecay, shardOver: train.Zero == 1 ? ranks : null);
        TrainerState? state = from is null ? null : CheckpointReader.Restore(from.Directory, from.Step, task, optimizer);
        // Identical start: rank 0's weights on every rank, checked by checksum; then each rank's own dropout stream.
        WeightSync.BroadcastFromRankZero(ranks, model);
        if (state is null) RankRng.SeedFresh(ranks, train.Seed);
        else RankRng.Restore(ranks, state, train.Seed);

        using var metrics = lead ? new MetricsLog(runDir, state?.Step ?? 0) : null;
        var (bestMetric, bestHigher) = BestMetricOf(train, task);
        var manager = new CheckpointManager(checkpointsDir, train.KeepLast, train.KeepBest, bestHigher);
        var parts = new TrainerParts
        {
            Task = task,
            Optimizer = optimizer,
            Schedule = new LrSchedule(recipe.Schedule.Kind, recipe.Optimizer.Lr, recipe.Schedule.WarmupSteps, train.MaxSteps, recipe.Schedule.MinLrRatio),
            Train = train,
            EvalMaxBatches = data.Eval?.MaxBatches ?? 0,
            Checkpoints = lead ? new CheckpointWriter(manager, task, optimizer, recipeYaml) : null,
            Metrics = metrics,
            Sync = new GradientSync(ranks),
            PackedTextCursor = context.PackedText,
            Observer = observer,
            BadData = context.BadData,
            BestMetric = bestMetric,
            BestHigherIsBetter = bestHigher,
            Precision = precision,
            Throughput = ThroughputOf(recipe, model, precision),
        };

        observer.OnMessage($"{recipe.Name}: {task.Describe}, {context.Files.Train.Count} train file(s), precision {precision}{(train.Precision == "auto" ? " (auto)" : "")}, run folder {runDir}" +
            (ranks.WorldSize > 1 ? $", data parallel over {ranks.WorldSize} ranks ({ranks.Backend})" : "") +
            (optimizer.Sharded ? $", ZeRO-1: {optimizer.StateBytes} bytes of optimizer state on this rank" : ""));
        var final = new Trainer(parts).Run(state, cancel);
        if (ranks.WorldSize > 1)
        {
            string sha = WeightSync.CheckIdentical(ranks, model, $"after step {final.Step}");
            observer.OnMessage($"weights identical on all {ranks.WorldSize} ranks after step {final.Step} (sha256 {sha})");
        }
        if (!lead) return new RunResult(runDir, final, new Dictionary<string, object?>()) { Recipe = recipe, Rank = ranks.Rank };

        var summary = Summarize(recipe, final, model, metrics!.JsonlPath, stoppedEarly: final.Step < train.MaxSteps);
        summary["optimizer_state_bytes"] = optimizer.StateBytes;   // rank 0's: all of it, or under ZeRO-1 its shard's
        foreach (var m in context.BadData.DrainMessages()) observer.OnMessage(m);
        if (context.BadData.Skips)
        {
            foreach (var (k, v) in context.BadData.Metrics()) summary[k] = v;   // skipped since this process started
        }
        File.WriteAllText(Path.Combine(runDir, "summary.json"), JsonSerializer.Serialize(summary, TrainerState.Json));
        return new RunResult(runDir, final, summary)
        {
            Recipe = recipe,
            LastCheckpoint = CheckpointLocator.TryFindLatest(runDir, out var last) ? last!.Directory : null,
        };
    }

    /// <summary>Keep-best's metric and direction: train.best_metric (mode given or inferred from its name), else the task's own.</summary>
    private static (string Name, bool HigherIsBetter) BestMetricOf(TrainSection train, ITrainingTask task)
    {
        if (train.BestMetric is null || train.BestMetric == task.BestMetric && train.BestMode is null)
            return (task.BestMetric, task.BestMetricHigherIsBetter);
        string mode = train.BestMode ?? RecipeValidator.InferBestMode(train.BestMetric) ?? "min";
        return (train.BestMetric, mode == "max");
    }

    /// <summary>
    /// FLOPs accounting for the metrics rows: text counts tokens at context train.seq_len; a ViT counts images of
    /// (image/patch)² patches plus the class token (MAE's encoder sees fewer: an over-estimate there, see docs/precision.md).
    /// </summary>
    private static Throughput ThroughputOf(Recipe recipe, TorchSharp.torch.nn.Module model, PrecisionPolicy precision)
    {
        var m = recipe.Model;
        bool vision = m.Arch == "vit";
        int context = vision ? (m.ImageSize / m.PatchSize) * (m.ImageSize / m.PatchSize) + 1 : recipe.Train.SeqLen;
        double peak = Throughput.Peak(precision.Device, precision.ComputeDtype ?? ScalarType.Float32);
        return new Throughput(model, context, vision ? context : 1, peak);
    }

    /// <summary>The run folder that holds a step folder (…/RUN/checkpoints/step-N → …/RUN).</summary>
    private static string RunFolderOf(string stepDir) =>
        Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(stepDir))!)!;

    /// <summary>train.device; with several ranks a bare cuda (or auto) means this rank's GPU, cuda:local_rank.</summary>
    private static Device ResolveDevice(string name, ICollectives ranks) => name switch
    {
        "auto" or "cuda" when ranks.WorldSize > 1 && cuda.is_available() => new Device(DeviceType.CUDA, ranks.LocalRank),
        "auto" => cuda.is_available() ? CUDA : CPU,
        _ when name.StartsWith("cuda", StringComparison.Ordinal) && !cuda.is_available() =>
            throw new RecipeException($"train.device is '{name}' but no CUDA device is available (this build's libtorch is {(cuda.is_available() ? "CUDA" : "CPU-only")}). Use train.device=cpu or build with -p:TorchBackend=cuda."),
        _ => new Device(name),
    };

    /// <summary>A metrics value, or null where MetricsLog wrote NaN/∞ as a string (summary.json, like JSON, has no such numbers).</summary>
    private static double? Finite(System.Text.Json.Nodes.JsonNode? node) =>
        node is System.Text.Json.Nodes.JsonValue v && v.TryGetValue(out double d) ? d : null;

    private static Dictionary<string, object?> Summarize(Recipe recipe, TrainerState final, TorchSharp.torch.nn.Module model, string metricsPath, bool stoppedEarly)
    {
        var rows = MetricsLog.Read(metricsPath);
        var trainRows = rows.Where(r => r.ContainsKey("loss")).ToList();
        var evalRows = rows.Where(r => r.ContainsKey("eval_loss")).ToList();
        var tps = trainRows.Skip(1).Select(r => r["tokens_per_s"]!.GetValue<double>()).Order().ToList();
        var summary = new Dictionary<string, object?>
        {
            ["name"] = recipe.Name,
            ["steps"] = final.Step,
            ["stopped_early"] = stoppedEarly,
            ["tokens_seen"] = final.TokensSeen,
            ["final_loss"] = Finite(trainRows.LastOrDefault()?["loss"]),   // null when the last window's steps were all skipped (NaN)
            ["first_eval_loss"] = evalRows.FirstOrDefault()?["eval_loss"]?.GetValue<double>(),
            ["wall_time_s"] = final.ElapsedSeconds,
            ["tokens_per_s_median"] = tps.Count > 0 ? tps[tps.Count / 2] : null,
            ["parameters"] = model.parameters().Sum(p => p.numel()),
            ["peak_memory_bytes"] = Process.GetCurrentProcess().PeakWorkingSet64,
            ["best_eval_loss"] = final.BestMetricName == "eval_loss" ? final.BestMetric : null,
            ["best_metric_name"] = final.BestMetricName,
            ["best_metric_mode"] = final.BestMetricMode,
            ["best_metric"] = final.BestMetric,
            ["best_step"] = final.BestStep,
        };
        foreach (var (k, v) in final.LastEval ?? []) summary[k] = v;
        return summary;
    }
}
