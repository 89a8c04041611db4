using System.Text.Json;
using System.Text.Json.Nodes;
using Pretrain.Training.Checkpointing;
using Pretrain.Training.Objectives;
using Pretrain.Training.Recipes;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// objective.kind distill: any <see cref="IDistillableTask"/> (clm, mlm or classify: objective.task) trained against a
/// frozen teacher. The student task keeps its model, data, eval and checkpoint files; each micro-batch runs the
/// teacher (eval mode, no grad) on the same batch and the loss becomes
/// α·T²·KL(teacher_T ‖ student_T) + (1 − α)·hard loss (<see cref="DistillLoss"/>) over the positions the hard loss
/// scores. The teacher is not part of <see cref="Model"/>, so it gets no optimizer state and is never saved; the
/// checkpoint's distill.json records its path and sha256, and resuming with other teacher weights is refused.
/// </summary>
public sealed class DistillTask : ITrainingTask
{
    /// <summary>The file beside the model in each checkpoint that names the teacher.</summary>
    public const string StateFile = "distill.json";

    private readonly IDistillableTask _student;
    private readonly nn.Module _teacher;
    private readonly string _teacherDir, _teacherSha, _studentInit;
    private readonly double _temperature, _alpha;

    private DistillTask(IDistillableTask student, nn.Module teacher, string teacherDir, string teacherSha, double temperature, double alpha, string studentInit)
    {
        _student = student;
        _teacher = teacher;
        _teacherDir = teacherDir;
        _teacherSha = teacherSha;
        _temperature = temperature;
        _alpha = alpha;
        _studentInit = studentInit;
    }

    /// <summary>The hard task under distillation: objective.task, else clm for decoders and classify for bert.</summary>
    public static string BaseTask(Recipe recipe) => recipe.Objective.Task ?? (recipe.Model.Arch is "gpt2" or "llama" ? "clm" : "classify");

    public static DistillTask Build(TaskContext ctx)
    {
        var o = ctx.Recipe.Objective;
        var teacherDir = Resolve(o.Teacher!);
        var sha = DistillTeacher.Sha256(DistillTeacher.WeightsFile(teacherDir));
        DistillTeacher.CheckTokenizer(teacherDir, ctx.Tokenizer);
        IDistillableTask student = BaseTask(ctx.Recipe) switch
        {
            "clm" => CausalLmTask.Build(ctx),
            "mlm" => MaskedLmTask.Build(ctx),
            _ => ClassifyTask.Build(ctx),
        };
        nn.Module? teacher = null;
        try
        {
            teacher = student.LoadTeacher(teacherDir);
            if (o.StudentInit == "teacher_layers")
                DistillTeacher.CopyLayers(teacher, student.Model, teacherDir);
            return new DistillTask(student, teacher, teacherDir, sha, o.Temperature ?? 2.0, o.Alpha, o.StudentInit);
        }
        catch
        {
            teacher?.Dispose();
            student.Dispose();
            throw;
        }
    }

    private static string Resolve(string teacher)
    {
        try
        {
            return CheckpointLocator.Resolve(teacher).Directory;
        }
        catch (CheckpointException e)
        {
            throw new RecipeException($"objective.teacher: {e.Message}", e);
        }
    }

    /// <summary>The frozen teacher (for tests and inspection).</summary>
    public nn.Module Teacher => _teacher;

    public nn.Module Model => _student.Model;

    public string Describe => $"{_student.Describe}; distilled from {_teacherDir} ({_teacher.parameters().Sum(p => p.numel()) / 1e6:F2}M parameters, frozen), "
        + $"T={_temperature}, alpha={_alpha}, student_init {_studentInit}";

    public bool Decays(string name, TorchSharp.Modules.Parameter parameter) => _student.Decays(name, parameter);

    public IReadOnlyList<MicroBatch> NextStep(int gradAccumSteps, int microBatchSize) => _student.NextStep(gradAccumSteps, microBatchSize);

    public Tensor LossSum(MicroBatch batch)
    {
        var (logits, targets) = _student.Logits(_student.Model, batch);
        Tensor teacherLogits;
        using (no_grad())
            teacherLogits = _student.Logits(_teacher, batch).Logits;
        if (teacherLogits.shape[^1] != logits.shape[^1])
            throw new RecipeException($"objective.teacher {_teacherDir} predicts {teacherLogits.shape[^1]} classes/tokens and the student {logits.shape[^1]}; "
                + "give the student the teacher's model.vocab_size (or num_classes).");
        return DistillLoss.Sum(logits, teacherLogits, targets, _temperature, _alpha);
    }

    public bool HasEval => _student.HasEval;

    public Dictionary<string, double> Evaluate(int microBatchSize, int maxBatches) => _student.Evaluate(microBatchSize, maxBatches);

    public string BestMetric => _student.BestMetric;

    public bool BestMetricHigherIsBetter => _student.BestMetricHigherIsBetter;

    public string CursorJson => _student.CursorJson;

    /// <summary>The student's files, and distill.json naming the teacher (path, sha256, T, alpha); never the teacher's weights.</summary>
    public void SaveModel(string directory)
    {
        _student.SaveModel(directory);
        var state = new JsonObject
        {
            ["teacher"] = _teacherDir,
            ["teacher_sha256"] = _teacherSha,
            ["temperature"] = _temperature,
            ["alpha"] = _alpha,
            ["student_init"] = _studentInit,
        };
        File.WriteAllText(Path.Combine(directory, StateFile), state.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>Refuses a checkpoint distilled from other teacher weights, then loads the student.</summary>
    public void LoadModel(string directory)
    {
        var path = Path.Combine(directory, StateFile);
        if (!File.Exists(path))
            throw new RecipeException($"{directory} has no {StateFile}: it was not written by a distill run, so its teacher is unknown. Resume a distill run's checkpoint.");
        var saved = JsonNode.Parse(File.ReadAllText(path))?["teacher_sha256"]?.GetValue<string>();
        if (saved != _teacherSha)
            throw new RecipeException($"The checkpoint {directory} was distilled from a teacher with sha256 {saved}, but objective.teacher {_teacherDir} now has {_teacherSha}: "
                + "resume refuses another teacher. Restore that teacher, or start a new run.");
        _student.LoadModel(directory);
    }

    public void Dispose()
    {
        _teacher.Dispose();
        _student.Dispose();
    }
}
