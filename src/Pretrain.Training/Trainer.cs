using System.Diagnostics;
using System.Text.Json;
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

/// <summary>The parts a training loop needs; the recipe runner builds them.</summary>
public sealed record TrainerParts
{
    public required ITrainingTask Task { get; init; }
    public required AdamW Optimizer { get; init; }
    public required LrSchedule Schedule { get; init; }
    public required TrainSection Train { get; init; }
    public int EvalMaxBatches { get; init; }
    /// <summary>Rank 0's checkpoint writer; null on the other ranks, which write nothing.</summary>
    public CheckpointWriter? Checkpoints { get; init; }
    /// <summary>Rank 0's metrics log; null on the other ranks.</summary>
    public MetricsLog? Metrics { get; init; }
    /// <summary>Data parallel: the step's all-reduces (world size 1: none).</summary>
    public GradientSync Sync { get; init; } = GradientSync.Single;
    /// <summary>Whether the train stream is packed text (its ranks' cursors are combined rather than equal).</summary>
    public bool PackedTextCursor { get; init; }
    public ITrainingObserver Observer { get; init; } = NullTrainingObserver.Instance;
    /// <summary>data.on_bad_data's tally: with skip, its counts join each logged row and its messages the log.</summary>
    public Pretrain.Data.BadDataLog? BadData { get; init; }
    /// <summary>The eval metric keep-best ranks by; null: the task's <see cref="ITrainingTask.BestMetric"/>.</summary>
    public string? BestMetric { get; init; }
    /// <summary>Whether higher <see cref="BestMetric"/> is better; null: the task's direction.</summary>
    public bool? BestHigherIsBetter { get; init; }
    /// <summary>train.precision: the autocast scope around each forward and loss, and fp16's loss scaling.</summary>
    public PrecisionPolicy Precision { get; init; } = PrecisionPolicy.Fp32();
    /// <summary>tflops/mfu for the metrics rows; null: not reported.</summary>
    public Throughput? Throughput { get; init; }
}

/// <summary>
/// The loop: per optimizer step, grad_accum micro-batches (loss normalised by the step's total loss terms, so
/// 4×2 equals 1×8), clipping, AdamW with the scheduled learning rate, metrics, periodic eval and checkpoints.
/// One dispose scope per step keeps the live tensor count flat. Stops early, with a checkpoint, when the token is
/// cancelled (SIGTERM). Data parallel (<see cref="GradientSync"/>): terms and the stop wish summed over the ranks
/// before backward, gradient buckets all-reduced after it; rank 0 alone writes (<see cref="RankZero"/>).
/// </summary>
public sealed class Trainer(TrainerParts parts)
{
    /// <summary>Runs from <paramref name="resume"/> (or step 0) to train.max_steps; returns the final state.</summary>
    public TrainerState Run(TrainerState? resume, CancellationToken cancel)
    {
        var train = parts.Train;
        var task = parts.Task;
        var model = task.Model;
        var opt = parts.Optimizer;
        long step = resume?.Step ?? 0;
        long unitsSeen = resume?.TokensSeen ?? 0;
        double elapsedBefore = resume?.ElapsedSeconds ?? 0;
        string bestName = parts.BestMetric ?? task.BestMetric;
        bool higher = parts.BestHigherIsBetter ?? (parts.BestMetric is null || parts.BestMetric == task.BestMetric ? task.BestMetricHigherIsBetter : false);
        string bestMode = higher ? "max" : "min";
        var best = (Metric: resume?.BestMetric, Step: resume?.BestStep);
        if (resume is not null && (resume.BestMetricName != bestName || resume.BestMetricMode != bestMode) && best.Metric is not null)
        {
            // The saved best was ranked by another metric or direction: it says nothing about this one.
            parts.Observer.OnMessage($"keep-best now ranks by {bestName} ({bestMode}); the saved best ({resume.BestMetricName} {resume.BestMetricMode}) is dropped");
            best = (null, null);
        }
        Dictionary<string, double>? lastEval = resume?.LastEval;
        var guard = new StepGuard(train.OnNonfinite, train.MaxSkippedSteps, resume?.SkippedSteps ?? 0, resume?.ConsecutiveSkippedSteps ?? 0);
        var precision = parts.Precision;
        var scaler = precision.NewScaler(resume?.LossScale, resume?.LossScaleGrowthTracker ?? 0);
        var sync = parts.Sync;
        var ranks = sync.Collectives;
        bool stopping = sync.AgreeStop(cancel.IsCancellationRequested);

        parts.Observer.OnStart(step, train.MaxSteps);
        var wall = Stopwatch.StartNew();

        double MetricOf(Dictionary<string, double> eval) => eval.TryGetValue(bestName, out var value) ? value
            : throw new InvalidOperationException($"Keep-best ranks by {bestName}, which this objective's eval does not report " +
                $"({string.Join(", ", eval.Keys.Where(k => !k.Contains("confusion", StringComparison.Ordinal)))}); set train.best_metric to one of those.");

        // Every rank calls it (the cursor and RNG gathers are collectives); rank 0's copy is the one saved.
        TrainerState Snapshot() => new()
        {
            Step = step,
            TokensSeen = unitsSeen,
            OptimizerSteps = opt.StepCount,
            Cursor = JsonDocument.Parse(CursorGather.Gather(ranks, task.CursorJson, parts.PackedTextCursor)).RootElement.Clone(),
            RngState = Convert.ToBase64String(RngState.Save()),
            RankRngStates = RankRng.Gather(ranks),
            BestMetricName = bestName,
            BestMetricMode = bestMode,
            BestMetric = best.Metric,
            BestStep = best.Step,
            LastEval = lastEval,
            ElapsedSeconds = elapsedBefore + wall.Elapsed.TotalSeconds,
            LearningRate = opt.LearningRate,
            SkippedSteps = guard.Skipped,
            ConsecutiveSkippedSteps = guard.Consecutive,
            LossScale = scaler?.Scale,
            LossScaleGrowthTracker = scaler?.GrowthTracker,
        };

        if (resume is null && task.HasEval && !stopping)   // stopped before it began: no baseline row either
        {
            // Step-0 eval: the untrained baseline every later eval is compared with.
            lastEval = Evaluate();
            MetricOf(lastEval);   // a best_metric the eval lacks fails now, not after the first eval_every steps
            parts.Metrics?.Write(0, lastEval);
            parts.Observer.OnEval(0, lastEval);
        }

        var window = Stopwatch.StartNew();
        long windowUnits = 0;
        double windowLossSum = 0;
        int windowSteps = 0;
        bool savedAtEnd = false;
        model.train();
        while (step < train.MaxSteps && !stopping)
        {
            // The whole step's micro-batches first: the loss normaliser is their total loss-term count over all ranks.
            var micro = task.NextStep(train.GradAccumSteps, train.MicroBatchSize);
            foreach (var m in parts.BadData?.DrainMessages() ?? []) parts.Observer.OnMessage(m);
            var totals = sync.Totals(micro.Sum(m => m.LossTerms), micro.Sum(m => m.Units), cancel.IsCancellationRequested);
            long terms = totals.LossTerms;

            opt.LearningRate = parts.Schedule.At(step);
            double stepLoss, gradNorm;
            bool applied;
            using (NewDisposeScope())
            {
                Tensor? total = null;
                foreach (var batch in micro)
                {
                    // Seam (PrecisionPolicy): the forward and its loss under autocast, in this thread; backward outside.
                    Tensor loss;
                    using (precision.Autocast()) loss = task.LossSum(batch).to(float32) / terms;
                    (scaler is null ? loss : scaler.ScaleLoss(loss)).backward();
                    var detached = loss.detach();
                    total = total is null ? detached : total + detached;   // summed on device: no sync per micro-batch
                }
                sync.AllReduce(opt);   // data parallel: every rank now holds the global gradient
                total = sync.ReduceLoss(total!);
                // The step's one device sync: its loss and the global gradient norm over the flat gradient buffer, read together.
                if (scaler is not null) opt.ScaleGradients(1.0 / scaler.Scale);   // unscale: clipping and the finiteness check see true gradients
                var norm = opt.GradNorm();
                var read = stack([total!.to(float64).reshape(1), norm.to(float64).to(total.device).reshape(1)]).cpu().data<double>().ToArray();
                (stepLoss, gradNorm) = (read[0], read[1]);
                // Seam (StepGuard): finiteness is checked before the optimizer touches the weights.
                // fp16: a non-finite gradient is the scaler's overflow, skipped whatever train.on_nonfinite says.
                bool overflow = scaler is not null && !double.IsFinite(gradNorm);
                if (overflow)
                {
                    // Counted toward train.max_skipped_steps; past it the message names bf16 (fp32's exponent range, no scaling).
                    guard.Skip(step + 1, $"the fp16 gradients overflowed (norm {gradNorm} at loss scale {scaler!.Scale})",
                        "Under fp16-mixed, train.precision: bf16-mixed has fp32's exponent range and needs no loss scaling.");
                }
                applied = !overflow && guard.Admit(step + 1, stepLoss, gradNorm);
                scaler?.Update(overflow);
                if (applied)
                {
                    if (train.GradClip > 0) opt.ClipGradients(gradNorm, train.GradClip);   // as clip_grad_norm_, from the norm read above
                    opt.step();
                }
                opt.zero_grad();
            }
            step++;
            long units = totals.Units;   // every rank's: tokens_per_s is the job's
            unitsSeen += units;
            windowUnits += units;
            if (applied)
            {
                windowLossSum += stepLoss;
                windowSteps++;
            }
            else
            {
                parts.Observer.OnMessage($"step {step}: loss {stepLoss}, gradient norm {gradNorm}; update skipped ({guard.Consecutive} in a row, {guard.Skipped} in all)");
            }

            bool isLast = step == train.MaxSteps;
            if (step % train.LogEvery == 0 || isLast || step == 1)
            {
                double secs = window.Elapsed.TotalSeconds;
                var row = new Dictionary<string, double>
                {
                    ["loss"] = windowSteps == 0 ? double.NaN : windowLossSum / windowSteps,   // over the window's applied steps
                    ["lr"] = opt.LearningRate,
                    ["grad_norm"] = gradNorm,
                    ["tokens_per_s"] = windowUnits / Math.Max(secs, 1e-9),
                    ["tokens"] = unitsSeen,
                };
                if (guard.Skips || scaler is not null) row["skipped_steps"] = guard.Skipped;
                if (scaler is not null) row["loss_scale"] = scaler.Scale;
                if (parts.Throughput is { } meter)
                {
                    // Per device from the job's units; tflops reported for the whole job.
                    var (tflops, mfu) = meter.Of(windowUnits / sync.WorldSize, secs);
                    (row["tflops"], row["mfu"]) = (tflops * sync.WorldSize, mfu);
                }
                if (precision.Device == DeviceType.CUDA && CudaMemory.DeviceUsedBytes() is { } used) row["cuda_memory_used_bytes"] = used;
                if (parts.BadData is { Skips: true } bad)
                {
                    foreach (var (k, v) in bad.Metrics()) row[k] = v;
                }
                parts.Metrics?.Write(step, row);
                parts.Observer.OnStep(step, row);
                window.Restart();
                windowUnits = 0;
                windowLossSum = 0;
                windowSteps = 0;
            }

            double? metric = null;
            if (task.HasEval && (step % train.EvalEvery == 0 || isLast))
            {
                lastEval = Evaluate();
                parts.Metrics?.Write(step, lastEval);
                parts.Observer.OnEval(step, lastEval);
                metric = MetricOf(lastEval);
                if (best.Metric is null || (higher ? metric > best.Metric : metric < best.Metric)) best = (metric, step);
            }

            stopping = sync.StopAfter(totals, cancel);   // one rank: the token now; several: the flag agreed this step
            savedAtEnd = step % train.CheckpointEvery == 0 || isLast || stopping;
            if (savedAtEnd) Save(Snapshot(), metric, "");
        }

        if (!savedAtEnd && step > (resume?.Step ?? 0)) Save(Snapshot(), null, " (stopped early)");
        return Snapshot();
    }

    /// <summary>Rank 0 writes the checkpoint; its success or failure reaches every rank.</summary>
    private void Save(TrainerState state, double? metric, string note)
    {
        string? path;
        using (parts.Optimizer.GatherState())   // ZeRO-1: every rank's moments, so rank 0 writes the whole state
            path = RankZero.Run(parts.Sync.Collectives, () => parts.Checkpoints!.Save(state.Step, state, metric), checkpoint: true);
        if (path is not null) parts.Observer.OnMessage($"checkpoint {Path.GetFileName(path)}{note}");
    }

    private Dictionary<string, double> Evaluate()
    {
        var model = parts.Task.Model;
        bool wasTraining = model.training;
        model.eval();
        using var autocast = parts.Precision.Autocast();   // eval computes as training does
        // Every rank evaluates the whole split; rank 0's metrics are broadcast, so keep-best agrees everywhere.
        try { return RankZero.Metrics(parts.Sync.Collectives, parts.Task.Evaluate(parts.Train.MicroBatchSize, parts.EvalMaxBatches)); }
        finally { if (wasTraining) model.train(); }
    }
}
