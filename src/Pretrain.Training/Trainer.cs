using System.Diagnostics;
using System.Text.Json;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Models.Text;
using Pretrain.Training.Checkpointing;
using Pretrain.Training.Metrics;
using Pretrain.Training.Objectives;
using Pretrain.Training.Optim;
using Pretrain.Training.Recipes;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training;

/// <summary>The parts a training loop needs; the recipe runner builds them.</summary>
public sealed record TrainerParts
{
    public required DecoderLm Model { get; init; }
    public required AdamW Optimizer { get; init; }
    public required LrSchedule Schedule { get; init; }
    public required TrainSection Train { get; init; }
    public required Device Device { get; init; }
    /// <summary>Opens the training stream at a cursor (null: from the start).</summary>
    public required Func<DataCursor?, PackedTextStream> OpenTrain { get; init; }
    /// <summary>Opens a fresh, finite eval stream; null when the recipe has no eval split.</summary>
    public Func<PackedTextStream>? OpenEval { get; init; }
    public int EvalMaxBatches { get; init; }
    public required CheckpointWriter Checkpoints { get; init; }
    public required MetricsLog Metrics { get; init; }
    public ITrainingObserver Observer { get; init; } = NullTrainingObserver.Instance;
}

/// <summary>
/// The loop: per optimizer step, grad_accum micro-batches (loss normalised by the step's total target count),
/// clipping, AdamW with the scheduled learning rate, metrics, periodic eval and checkpoints. One dispose scope per
/// step keeps the live tensor count flat. Stops early, with a checkpoint, when the token is cancelled (SIGTERM).
/// </summary>
public sealed class Trainer(TrainerParts parts)
{
    private readonly CausalLmObjective _objective = new(parts.Model);

    /// <summary>Runs from <paramref name="resume"/> (or step 0) to train.max_steps; returns the final state.</summary>
    public TrainerState Run(TrainerState? resume, CancellationToken cancel)
    {
        var train = parts.Train;
        var model = parts.Model;
        var opt = parts.Optimizer;
        long step = resume?.Step ?? 0;
        long tokensSeen = resume?.TokensSeen ?? 0;
        double elapsedBefore = resume?.ElapsedSeconds ?? 0;
        var best = (Metric: resume?.BestMetric, Step: resume?.BestStep);
        Dictionary<string, double>? lastEval = resume?.LastEval;
        DataCursor? cursor = resume is null ? null : DataCursor.FromJson(resume.Cursor.GetRawText());

        parts.Observer.OnStart(step, train.MaxSteps);
        using var stream = parts.OpenTrain(cursor);
        var wall = Stopwatch.StartNew();
        var window = Stopwatch.StartNew();
        long windowTokens = 0;
        double lastLoss = double.NaN, windowLossSum = 0;
        int windowSteps = 0;
        bool savedAtEnd = false;
        model.train();

        TrainerState Snapshot() => new()
        {
            Step = step,
            TokensSeen = tokensSeen,
            OptimizerSteps = opt.StepCount,
            Cursor = JsonDocument.Parse(cursor!.ToJson()).RootElement.Clone(),
            RngState = Convert.ToBase64String(RngState.Save()),
            BestMetric = best.Metric,
            BestStep = best.Step,
            LastEval = lastEval,
            ElapsedSeconds = elapsedBefore + wall.Elapsed.TotalSeconds,
            LearningRate = opt.LearningRate,
        };

        if (resume is null && parts.OpenEval is not null)
        {
            // Step-0 eval: the untrained baseline every later eval is compared with.
            lastEval = Evaluate();
            parts.Metrics.Write(0, lastEval);
            parts.Observer.OnEval(0, lastEval);
        }

        while (step < train.MaxSteps && !cancel.IsCancellationRequested)
        {
            // Gather the whole step's micro-batches first: the loss normaliser is the total target count.
            var micro = new List<List<int[]>>(train.GradAccumSteps);
            for (int m = 0; m < train.GradAccumSteps; m++)
            {
                var blocks = new List<int[]>(train.MicroBatchSize);
                while (blocks.Count < train.MicroBatchSize)
                {
                    if (!stream.TryNext(out var block, out var after))
                        throw new InvalidOperationException("The training stream ended; training streams are endless.");
                    blocks.Add(block);
                    cursor = after;
                }
                micro.Add(blocks);
            }
            long targets = micro.Sum(CausalLmObjective.CountTargets);

            opt.LearningRate = parts.Schedule.At(step);
            double stepLoss = 0, gradNorm;
            using (NewDisposeScope())
            {
                foreach (var blocks in micro)
                {
                    var (inputs, labels) = CausalLmObjective.Collate(blocks, parts.Device);
                    var loss = _objective.LossSum(inputs, labels) / targets;
                    loss.backward();
                    stepLoss += loss.item<float>();
                }
                gradNorm = train.GradClip > 0
                    ? nn.utils.clip_grad_norm_(model.parameters(), train.GradClip)
                    : double.NaN;
                opt.step();
                opt.zero_grad();
            }
            step++;
            tokensSeen += targets;
            windowTokens += targets;
            windowLossSum += stepLoss;
            windowSteps++;
            lastLoss = stepLoss;
            if (!double.IsFinite(stepLoss))
                throw new InvalidOperationException($"Loss became {stepLoss} at step {step}. Lower optimizer.lr or check the data; the last good checkpoint is kept.");

            bool isLast = step == train.MaxSteps;
            if (step % train.LogEvery == 0 || isLast || step == 1)
            {
                double secs = window.Elapsed.TotalSeconds;
                var row = new Dictionary<string, double>
                {
                    ["loss"] = windowLossSum / windowSteps,
                    ["lr"] = opt.LearningRate,
                    ["grad_norm"] = gradNorm,
                    ["tokens_per_s"] = windowTokens / Math.Max(secs, 1e-9),
                    ["tokens"] = tokensSeen,
                };
                parts.Metrics.Write(step, row);
                parts.Observer.OnStep(step, row);
                window.Restart();
                windowTokens = 0;
                windowLossSum = 0;
                windowSteps = 0;
            }

            double? metric = null;
            if (parts.OpenEval is not null && (step % train.EvalEvery == 0 || isLast))
            {
                lastEval = Evaluate();
                parts.Metrics.Write(step, lastEval);
                parts.Observer.OnEval(step, lastEval);
                metric = lastEval["eval_loss"];
                if (best.Metric is null || metric < best.Metric) best = (metric, step);
            }

            if (step % train.CheckpointEvery == 0 || isLast || cancel.IsCancellationRequested)
            {
                var path = parts.Checkpoints.Save(step, Snapshot(), metric);
                parts.Observer.OnMessage($"checkpoint {Path.GetFileName(path)}");
                savedAtEnd = true;
            }
            else
            {
                savedAtEnd = false;
            }
        }

        if (!savedAtEnd && step > (resume?.Step ?? 0))
        {
            var path = parts.Checkpoints.Save(step, Snapshot(), null);
            parts.Observer.OnMessage($"checkpoint {Path.GetFileName(path)} (stopped early)");
        }
        var final = Snapshot() with { };
        return final with { LastEval = lastEval ?? new Dictionary<string, double> { ["final_loss"] = lastLoss } };
    }

    /// <summary>Mean token loss, perplexity and next-token accuracy over (at most eval.max_batches of) the eval split.</summary>
    public Dictionary<string, double> Evaluate()
    {
        var model = parts.Model;
        bool wasTraining = model.training;
        model.eval();
        double lossSum = 0;
        long correct = 0, count = 0;
        int batches = 0;
        using (var stream = parts.OpenEval!())
        {
            var blocks = new List<int[]>(parts.Train.MicroBatchSize);
            bool more = true;
            while (more && (parts.EvalMaxBatches <= 0 || batches < parts.EvalMaxBatches))
            {
                blocks.Clear();
                while (blocks.Count < parts.Train.MicroBatchSize && (more = stream.TryNext(out var block, out _)))
                    blocks.Add(block);
                if (blocks.Count == 0) break;
                using var scope = NewDisposeScope();
                var (inputs, labels) = CausalLmObjective.Collate(blocks, parts.Device);
                var (l, c, n) = _objective.Evaluate(inputs, labels);
                lossSum += l;
                correct += c;
                count += n;
                batches++;
            }
        }
        if (wasTraining) model.train();
        if (count == 0)
            throw new InvalidOperationException("The eval split produced no complete block. Give data.eval more rows, or a smaller train.seq_len.");
        double mean = lossSum / count;
        return new Dictionary<string, double>
        {
            ["eval_loss"] = mean,
            ["eval_ppl"] = Math.Exp(Math.Min(mean, 50)),
            ["eval_accuracy"] = (double)correct / count,
            ["eval_tokens"] = count,
        };
    }
}
