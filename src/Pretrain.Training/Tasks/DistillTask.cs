using System.Text.Json;
using System.Text.Json.Nodes;
using Pretrain.Models.Modules;
using Pretrain.Models.Weights;
using Pretrain.Training.Checkpointing;
using Pretrain.Training.Objectives;
using Pretrain.Training.Precision;
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
/// Optional layer-wise terms (<see cref="LayerDistillLoss"/>): β·hidden-state MSE over mapped layers through a learned
/// projection (TinyBERT) and γ·the last layer's attention KL (MiniLM), both means scaled by the micro-batch's loss terms.
/// The teacher runs in float32 or bf16 (objective.teacher_dtype: weights cast once; its outputs upcast to float32).
/// </summary>
public sealed class DistillTask : ITrainingTask
{
    /// <summary>The file beside the model in each checkpoint that names the teacher.</summary>
    public const string StateFile = "distill.json";

    /// <summary>The file beside the model that holds the hidden-state projection (never part of model.safetensors, so never exported).</summary>
    public const string ProjectionFile = "distill_projection.safetensors";

    private readonly IDistillableTask _student;
    private readonly nn.Module _teacher;
    private readonly string _teacherDir, _teacherSha, _studentInit, _teacherDtype;
    private readonly double _temperature, _alpha, _hiddenWeight, _attentionWeight;
    private readonly int[] _layerMap;                   // teacher layer (hidden_states index) of student layer i + 1
    private readonly TorchSharp.Modules.Linear? _projection;   // (d_s → d_t) when widths differ and hidden_weight > 0
    private readonly DistillStudent? _model;

    private DistillTask(IDistillableTask student, nn.Module teacher, string teacherDir, string teacherSha, ObjectiveSection o,
        string teacherDtype, int[] layerMap, TorchSharp.Modules.Linear? projection)
    {
        _student = student;
        _teacher = teacher;
        _teacherDir = teacherDir;
        _teacherSha = teacherSha;
        _temperature = o.Temperature ?? 2.0;
        _alpha = o.Alpha;
        _studentInit = o.StudentInit;
        _hiddenWeight = o.HiddenWeight;
        _attentionWeight = o.AttentionWeight;
        _teacherDtype = teacherDtype;
        _layerMap = layerMap;
        _projection = projection;
        _model = projection is null ? null : new DistillStudent(student.Model, projection);
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
        TorchSharp.Modules.Linear? projection = null;
        try
        {
            teacher = student.LoadTeacher(teacherDir);
            if (o.StudentInit == "teacher_layers")
                DistillTeacher.CopyLayers(teacher, student.Model, teacherDir);
            var dtype = o.TeacherDtype ?? (PrecisionPolicy.Resolve(ctx.Recipe.Train.Precision, ctx.Device.type).ComputeDtype == ScalarType.BFloat16 ? "bf16" : "float32");
            if (dtype == "bf16")
                teacher.to(ScalarType.BFloat16);   // once: half the teacher's bytes; its parameters stay frozen
            var (ls, ds, hs) = student.Shape(student.Model);
            var (lt, dt, ht) = student.Shape(teacher);
            var map = o.HiddenWeight > 0 ? LayerMap(o, ls, lt, teacherDir) : [];
            if (o.AttentionWeight > 0 && hs != ht)
                throw new RecipeException($"objective.attention_weight compares attention head by head: the teacher ({teacherDir}) has {ht} heads and the student {hs}; "
                    + "set model.num_heads to the teacher's, or objective.attention_weight to 0.");
            if (o.HiddenWeight > 0 && ds != dt)
            {
                torch.manual_seed(ctx.Recipe.Train.Seed + 2);   // its own draw, independent of the student's init
                projection = nn.Linear(ds, dt);
                projection.to(ctx.Device);
            }
            return new DistillTask(student, teacher, teacherDir, sha, o, dtype, map, projection);
        }
        catch
        {
            projection?.Dispose();
            teacher?.Dispose();
            student.Dispose();
            throw;
        }
    }

    /// <summary>objective.layer_map, or student layer i ↔ teacher layer i·k (k = teacher / student blocks, TinyBERT's uniform map).</summary>
    private static int[] LayerMap(ObjectiveSection o, int studentLayers, int teacherLayers, string teacherDir)
    {
        if (o.LayerMap is { } map)
        {
            if (map.Count != studentLayers || map.Any(l => l < 1 || l > teacherLayers))
                throw new RecipeException($"objective.layer_map must list {studentLayers} teacher layers (one per student layer), each in 1..{teacherLayers} (the teacher {teacherDir} has {teacherLayers} blocks); got [{string.Join(", ", map)}].");
            return [.. map];
        }
        if (teacherLayers % studentLayers != 0)
            throw new RecipeException($"objective.hidden_weight maps student layer i to teacher layer i·k, k = teacher blocks / student blocks, but {teacherLayers} / {studentLayers} is not whole (teacher {teacherDir}); "
                + "give objective.layer_map, one teacher layer per student layer.");
        int k = teacherLayers / studentLayers;
        return [.. Enumerable.Range(1, studentLayers).Select(i => i * k)];
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

    /// <summary>The student, with distill_hidden_proj beside its modules when hidden-state transfer needs a projection.</summary>
    public nn.Module Model => _model ?? _student.Model;

    /// <summary>The hidden-state projection (d_s → d_t), or null.</summary>
    public TorchSharp.Modules.Linear? Projection => _projection;

    public string Describe => $"{_student.Describe}; distilled from {_teacherDir} ({_teacher.parameters().Sum(p => p.numel()) / 1e6:F2}M parameters, frozen), "
        + $"T={_temperature}, alpha={_alpha}, student_init {_studentInit}, teacher {_teacherDtype}"
        + (_hiddenWeight > 0 ? $", hidden MSE x{_hiddenWeight} on teacher layers [{string.Join(", ", _layerMap)}]{(_projection is null ? "" : $" through a {_projection.weight!.shape[1]}→{_projection.weight!.shape[0]} projection")}" : "")
        + (_attentionWeight > 0 ? $", last-layer attention KL x{_attentionWeight}" : "");

    public bool Decays(string name, TorchSharp.Modules.Parameter parameter) => _student.Decays(name, parameter);

    public IReadOnlyList<MicroBatch> NextStep(int gradAccumSteps, int microBatchSize) => _student.NextStep(gradAccumSteps, microBatchSize);

    public Tensor LossSum(MicroBatch batch)
    {
        bool layers = _hiddenWeight > 0 || _attentionWeight > 0;
        LayerCapture? Capture() => layers ? new LayerCapture { LastAttention = _attentionWeight > 0 } : null;
        var (studentCapture, teacherCapture) = (Capture(), Capture());
        var (logits, targets) = _student.Logits(_student.Model, batch, studentCapture);
        Tensor teacherLogits;
        using (no_grad())
            teacherLogits = _student.Logits(_teacher, batch, teacherCapture).Logits;
        if (teacherLogits.shape[^1] != logits.shape[^1])
            throw new RecipeException($"objective.teacher {_teacherDir} predicts {teacherLogits.shape[^1]} classes/tokens and the student {logits.shape[^1]}; "
                + "give the student the teacher's model.vocab_size (or num_classes).");
        var loss = DistillLoss.Sum(logits, teacherLogits, targets, _temperature, _alpha);
        if (!layers)
            return loss;
        return loss + LayerTerms(studentCapture!, teacherCapture!) * batch.LossTerms;   // means, weighted like the per-term losses
    }

    /// <summary>β·Σ_i MSE(proj(h_s[i]), h_t[map[i]]) + γ·KL of the last layer's attention (each a mean over real positions).</summary>
    public Tensor LayerTerms(LayerCapture student, LayerCapture teacher)
    {
        Tensor? sum = null;
        if (_hiddenWeight > 0)
        {
            Func<Tensor, Tensor>? project = _projection is null ? null : _projection.call;
            for (int i = 0; i < _layerMap.Length; i++)
            {
                var mse = LayerDistillLoss.HiddenMse(student.Hidden[i + 1], teacher.Hidden[_layerMap[i]], project, student.TokenMask);
                sum = sum is null ? mse : sum + mse;
            }
            sum = sum! * _hiddenWeight;
        }
        if (_attentionWeight > 0)
        {
            var kl = LayerDistillLoss.AttentionKl(student.AttentionScores!, teacher.AttentionScores!, student.TokenMask) * _attentionWeight;
            sum = sum is null ? kl : sum + kl;
        }
        return sum!;
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
            ["teacher_dtype"] = _teacherDtype,
            ["hidden_weight"] = _hiddenWeight,
            ["attention_weight"] = _attentionWeight,
            ["layer_map"] = new JsonArray([.. _layerMap.Select(l => (JsonNode)l)]),
        };
        File.WriteAllText(Path.Combine(directory, StateFile), state.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        if (_projection is not null)
            Safetensors.Save(Path.Combine(directory, ProjectionFile), new Dictionary<string, Tensor>
            {
                ["hidden_proj.weight"] = _projection.weight!,
                ["hidden_proj.bias"] = _projection.bias!,
            }, new Dictionary<string, string> { ["format"] = "pt" });
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
        if (_projection is null)
            return;
        var file = Path.Combine(directory, ProjectionFile);
        if (!File.Exists(file))
            throw new RecipeException($"{directory} has no {ProjectionFile}: it was not distilled with objective.hidden_weight across widths; resume it with its own recipe, or start a new run.");
        using var scope = NewDisposeScope();
        var tensors = Safetensors.Load(file);
        using var _ = no_grad();
        foreach (var (name, p) in new[] { ("hidden_proj.weight", _projection.weight!), ("hidden_proj.bias", _projection.bias!) })
        {
            if (!tensors.TryGetValue(name, out var t) || !t.shape.SequenceEqual(p.shape))
                throw new RecipeException($"{file}: '{name}' is missing or not [{string.Join(", ", p.shape)}] (the student and teacher widths of this recipe); resume with the recipe that wrote it.");
            p.copy_(t);
        }
    }

    public void Dispose()
    {
        _teacher.Dispose();
        _model?.Dispose();   // the student's modules and the projection; disposing a module twice is a no-op
        _projection?.Dispose();
        _student.Dispose();
    }
}
