using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Pretrain.Training.Objectives;
using Pretrain.Training.Recipes;
using Pretrain.Training.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests;

/// <summary>
/// objective.kind distill: the KD loss against PyTorch, α = 0 against the plain task, a student that learns the
/// teacher (KL falls), a teacher that never changes nor gets saved, teacher_layers init, and resume refusing another teacher.
/// </summary>
[Collection("torch")]
public sealed class DistillTaskTests
{
    private const string KdReference = """
        import json, sys, torch
        import torch.nn.functional as F
        d = json.load(open(sys.argv[1]))
        n, k, T, a = d["n"], d["k"], d["t"], d["alpha"]
        s = torch.tensor(d["s"], dtype=torch.float64).reshape(n, k)
        t = torch.tensor(d["te"], dtype=torch.float64).reshape(n, k)
        y = torch.tensor(d["y"], dtype=torch.int64)
        kl = F.kl_div(F.log_softmax(s / T, -1), F.log_softmax(t / T, -1), log_target=True, reduction="none").sum(-1)
        kl = kl[y != -100].sum()
        ce = F.cross_entropy(s, y, ignore_index=-100, reduction="sum")
        print(json.dumps([(a * T * T * kl + (1 - a) * ce).item(), kl.item()]))
        """;

    [ReferenceTheory(ReferenceTool.PythonTorch)]
    [InlineData(2.0, 0.5)]
    [InlineData(4.0, 0.9)]
    [InlineData(1.0, 0.0)]
    public void The_kd_loss_equals_pytorch_kl_div_and_cross_entropy(double temperature, double alpha)
    {
        ReferenceTools.Require(ReferenceTool.PythonTorch);
        const int n = 7, k = 11;
        var random = new Random(5);
        var s = Enumerable.Range(0, n * k).Select(_ => (float)(random.NextDouble() * 6 - 3)).ToArray();
        var t = Enumerable.Range(0, n * k).Select(_ => (float)(random.NextDouble() * 6 - 3)).ToArray();
        long[] y = [3, -100, 0, 10, 5, -100, 7];
        double loss, kl;
        using (NewDisposeScope())
        {
            var st = tensor(s, [n, k]);
            var tt = tensor(t, [n, k]);
            var yt = tensor(y);
            loss = DistillLoss.Sum(st, tt, yt, temperature, alpha).item<float>();
            kl = DistillLoss.KlSum(st, tt, yt.ne(-100), temperature).item<float>();
        }
        using var dir = new TempDir();
        var json = new JsonObject
        {
            ["n"] = n, ["k"] = k, ["t"] = temperature, ["alpha"] = alpha,
            ["s"] = new JsonArray([.. s.Select(v => (JsonNode)v)]),
            ["te"] = new JsonArray([.. t.Select(v => (JsonNode)v)]),
            ["y"] = new JsonArray([.. y.Select(v => (JsonNode)v)]),
        };
        File.WriteAllText(dir["in.json"], json.ToJsonString());
        var (code, output) = ReferenceTools.RunPython(["-c", KdReference, dir["in.json"]]);
        Assert.True(code == 0, output);
        var expected = JsonNode.Parse(output)!.AsArray().Select(v => (double)v!).ToArray();
        Assert.Equal(expected[0], loss, 4);
        Assert.Equal(expected[1], kl, 5);
        Assert.True(kl > 0.1);   // the two distributions differ: the check is not 0 = 0
    }

    [Fact]
    public void Temperature_scales_the_soft_term_by_t_squared()
    {
        using var scope = NewDisposeScope();
        var s = randn(4, 9, generator: new Generator(1));
        var t = randn(4, 9, generator: new Generator(2));
        var y = tensor(new long[] { 1, 2, 3, 4 });
        var kl = DistillLoss.KlSum(s, t, y.ne(-100), 3).item<float>();
        Assert.Equal(9 * kl, DistillLoss.Sum(s, t, y, 3, alpha: 1).item<float>(), 4);
    }

    [Fact]
    public void With_alpha_0_the_loss_equals_the_plain_tasks_loss()
    {
        using var dir = new TempDir();
        var teacher = TrainTeacher(dir, "teacher");
        var recipe = TinyRun.Recipe(dir, "student");
        var distill = RecipeLoader.LoadFile(recipe, [.. Distill(teacher), "objective.alpha=0"]);
        var plain = RecipeLoader.LoadFile(recipe);
        using var kd = (DistillTask)TrainingTasks.Create(new TaskContext(distill, dir["a"], CPU, null));
        using var clm = TrainingTasks.Create(new TaskContext(plain, dir["b"], CPU, null));
        for (var step = 0; step < 3; step++)
        {
            var a = kd.NextStep(1, 4)[0];
            var b = clm.NextStep(1, 4)[0];
            using var scope = NewDisposeScope();
            Assert.Equal(clm.LossSum(b).item<float>(), kd.LossSum(a).item<float>(), 3);
        }
    }

    [Fact]
    public void The_teacher_is_frozen_gets_no_gradient_or_optimizer_slot_and_stays_unchanged()
    {
        using var dir = new TempDir();
        var teacher = TrainTeacher(dir, "teacher");
        var recipe = RecipeLoader.LoadFile(TinyRun.Recipe(dir, "student"), Distill(teacher));
        using var task = (DistillTask)TrainingTasks.Create(new TaskContext(recipe, dir["s"], CPU, null));
        var before = task.Teacher.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        Assert.All(task.Teacher.parameters(), p => Assert.False(p.requires_grad));
        Assert.False(task.Teacher.training);
        var studentParams = task.Model.parameters().ToHashSet(ReferenceEqualityComparer.Instance);
        Assert.DoesNotContain(task.Teacher.parameters(), p => studentParams.Contains(p));
        using (NewDisposeScope())
        {
            task.LossSum(task.NextStep(1, 4)[0]).backward();
            Assert.All(task.Teacher.parameters(), p => Assert.True(p.grad is null));
            Assert.Contains(task.Model.parameters(), p => p.grad is not null);
        }
        foreach (var (name, p) in task.Teacher.named_parameters())
            Assert.True(before[name].equal(p).all().item<bool>(), name);
        foreach (var t in before.Values)
            t.Dispose();
    }

    [Fact]
    public void A_distilled_student_moves_toward_its_teacher_and_never_saves_it()
    {
        using var dir = new TempDir();
        var teacher = TrainTeacher(dir, "teacher", steps: 12);
        var teacherSha = Sha(Path.Combine(teacher, "checkpoints", "step-00000012", "model.safetensors"));
        string[] sets = [.. Distill(teacher), "objective.alpha=1", "model.num_layers=1", "train.max_steps=24", "train.checkpoint_every=24", "data.eval=null"];
        var recipePath = TinyRun.Recipe(dir, "student");
        double Kl(string? checkpoint)
        {
            using var task = (DistillTask)TrainingTasks.Create(new TaskContext(RecipeLoader.LoadFile(recipePath, sets), dir["probe"], CPU, null));
            if (checkpoint is not null)
                task.LoadModel(checkpoint);
            task.Model.eval();
            var batch = task.NextStep(1, 8)[0];
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            return task.LossSum(batch).item<float>() / batch.LossTerms / 4;   // α = 1: T²·mean KL, T = 2
        }
        var start = Kl(null);
        var run = TinyRun.Run(recipePath, dir["run"], sets);
        var end = Kl(run.LastCheckpoint);
        Assert.True(end < 0.8 * start, $"mean KL {start:G4} → {end:G4}");

        var step = run.LastCheckpoint!;
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(step, DistillTask.StateFile)))!;
        Assert.Equal(teacherSha, (string)state["teacher_sha256"]!);
        Assert.Equal(teacherSha, Sha(Path.Combine(teacher, "checkpoints", "step-00000012", "model.safetensors")));   // teacher file untouched
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(step, "config.json")))!;
        Assert.Equal(1, (int)config["n_layer"]!);                                                        // the student, not the teacher
        Assert.DoesNotContain(Directory.GetFiles(step), f => Path.GetFileName(f).Contains("teacher", StringComparison.Ordinal));
    }

    [Fact]
    public void Resume_refuses_a_teacher_with_other_weights()
    {
        using var dir = new TempDir();
        var teacher = TrainTeacher(dir, "teacher");
        var other = TrainTeacher(dir, "other", seed: 9);
        string[] sets = [.. Distill(teacher), "train.max_steps=4", "train.checkpoint_every=4"];
        var recipePath = TinyRun.Recipe(dir, "student");
        TinyRun.Run(recipePath, dir["run"], sets);
        // The teacher's folder now holds another model (same shape, tokenizer and step): a complete, valid checkpoint.
        var step = Path.Combine(teacher, "checkpoints", "step-00000008");
        Directory.Delete(step, recursive: true);
        Directory.CreateDirectory(step);
        foreach (var file in Directory.GetFiles(Path.Combine(other, "checkpoints", "step-00000008"), "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(step, Path.GetRelativePath(Path.Combine(other, "checkpoints", "step-00000008"), file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }
        var e = Assert.Throws<RecipeException>(() => TinyRun.Run(recipePath, dir["run"], ["train.max_steps=8"], resume: "auto"));
        Assert.Contains("resume refuses another teacher", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Teacher_layers_init_copies_every_kth_block_and_everything_outside_the_blocks()
    {
        using var dir = new TempDir();
        var teacher = TrainTeacher(dir, "teacher", extra: ["model.num_layers=4"]);
        var recipe = RecipeLoader.LoadFile(TinyRun.Recipe(dir, "student"), [.. Distill(teacher), "objective.student_init=teacher_layers"]);
        using var task = (DistillTask)TrainingTasks.Create(new TaskContext(recipe, dir["s"], CPU, null));
        var t = task.Teacher.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var student = task.Model.named_parameters().ToList();
        Assert.Contains(student, p => p.name.StartsWith("blocks.1.", StringComparison.Ordinal));
        foreach (var (name, p) in student)
        {
            var from = name.StartsWith("blocks.1.", StringComparison.Ordinal) ? "blocks.2." + name["blocks.1.".Length..] : name;
            Assert.True(t[from].equal(p).all().item<bool>(), $"{name} ← {from}");
        }

        var wrong = RecipeLoader.LoadFile(TinyRun.Recipe(dir, "student3"), [.. Distill(teacher), "objective.student_init=teacher_layers", "model.num_layers=3"]);
        var e = Assert.Throws<RecipeException>(() => TrainingTasks.Create(new TaskContext(wrong, dir["w"], CPU, null)));
        Assert.Contains("model.num_layers must divide it", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Another_tokenizer_or_a_missing_teacher_is_one_clear_recipe_error()
    {
        using var dir = new TempDir();
        var teacher = TrainTeacher(dir, "teacher");
        var recipe = RecipeLoader.LoadFile(TinyRun.Recipe(dir, "student"), [.. Distill(teacher), "tokenizer.special_tokens=['[CLS]', '[SEP]']"]);
        var e = Assert.Throws<RecipeException>(() => TrainingTasks.Create(new TaskContext(recipe, dir["s"], CPU, null)));
        Assert.Contains("another tokenizer than the student", e.Message, StringComparison.Ordinal);

        var missing = RecipeLoader.LoadFile(TinyRun.Recipe(dir, "student2"), Distill(dir["nope"]));
        Assert.Contains("objective.teacher", Assert.Throws<RecipeException>(() => TrainingTasks.Create(new TaskContext(missing, dir["m"], CPU, null))).Message, StringComparison.Ordinal);
        var noTeacher = Assert.Throws<RecipeException>(() => RecipeLoader.LoadFile(TinyRun.Recipe(dir, "student3"), ["objective.kind=distill"]));
        Assert.Contains("objective.teacher", noTeacher.Message, StringComparison.Ordinal);
    }

    private static string[] Distill(string teacher) => ["objective.kind=distill", $"objective.teacher={teacher}"];

    /// <summary>A tiny gpt2 trained for a few steps: the teacher's run folder.</summary>
    private static string TrainTeacher(TempDir dir, string name, int steps = 8, int seed = 1, string[]? extra = null)
    {
        var run = dir[name + "-run"];
        TinyRun.Run(TinyRun.Recipe(dir, name, maxSteps: steps), run,
            [$"train.seed={seed.ToString(CultureInfo.InvariantCulture)}", $"train.checkpoint_every={steps}", "train.eval_every=100", .. extra ?? []]);
        return run;
    }

    private static string Sha(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
