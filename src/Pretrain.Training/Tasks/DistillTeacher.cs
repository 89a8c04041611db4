using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Pretrain.Data.Text;
using Pretrain.Training.Recipes;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// What <see cref="DistillTask"/> checks and takes from a teacher folder: the same tokenizer as the student's, the
/// sha256 of its weights (a resumed run refuses another teacher), and for student_init teacher_layers every k-th
/// block (DistilBERT, Sanh et al. 2019: a student of L/k blocks starts from blocks 0, k, 2k… and everything outside
/// the blocks).
/// </summary>
public static partial class DistillTeacher
{
    /// <summary>Texts whose ids must come out the same from both tokenizers.</summary>
    private static readonly string[] Probes =
    [
        "The quick brown fox jumps over the lazy dog.",
        "Distillation: 12,345 tokens; naïve café — 東京 🙂",
        "  leading spaces, tabs\tand\nnew lines  ",
    ];

    /// <summary>The teacher's weights file (model.safetensors, or a LoRA teacher's adapter), for the sha256.</summary>
    public static string WeightsFile(string dir)
    {
        foreach (var name in new[] { "model.safetensors", "adapter_model.safetensors" })
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path))
                return path;
        }
        throw new RecipeException($"objective.teacher {dir} has no model.safetensors: name a run, a step folder or a `pretrain import`ed folder with full weights.");
    }

    /// <summary>Lower-case hex sha256 of a file, streamed.</summary>
    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Throws unless the teacher's tokenizer/ encodes like the student's (vocabulary size, eos, probe texts).</summary>
    public static void CheckTokenizer(string dir, ITextTokenizer student)
    {
        var folder = Path.Combine(dir, "tokenizer");
        if (!Directory.Exists(folder))
            throw new RecipeException($"objective.teacher {dir} has no tokenizer/ folder, so the student's tokenizer cannot be checked against it; distil from a checkpoint written by pretrain run or pretrain import.");
        var teacher = TokenizerFactory.Load(folder);
        var why = teacher.VocabSize != student.VocabSize ? $"vocabulary {teacher.VocabSize} vs the student's {student.VocabSize}"
            : teacher.EosId != student.EosId ? $"eos id {teacher.EosId} vs the student's {student.EosId}"
            : Probes.FirstOrDefault(p => !teacher.Encode(p).SequenceEqual(student.Encode(p))) is { } text ? $"'{text}' encodes differently"
            : null;
        if (why is not null)
            throw new RecipeException($"objective.teacher {dir} has another tokenizer than the student ({why}); teacher and student must share one: "
                + "set tokenizer: to the teacher's (or init.checkpoint from a model with the teacher's tokenizer).");
    }

    /// <summary>
    /// Copies the teacher into the student: every student parameter takes the teacher's of the same name and shape,
    /// block i from teacher block i·k with k = teacher blocks / student blocks. Widths must match.
    /// </summary>
    public static void CopyLayers(nn.Module teacher, nn.Module student, string teacherDir)
    {
        var source = teacher.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);
        int Blocks(IEnumerable<string> names) => names.Select(n => BlockIndex().Match(n)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) + 1).DefaultIfEmpty(0).Max();
        var targets = student.named_parameters().ToList();
        int tb = Blocks(source.Keys), sb = Blocks(targets.Select(t => t.name));
        if (sb == 0 || tb % sb != 0)
            throw new RecipeException($"objective.student_init teacher_layers takes every k-th block: the teacher ({teacherDir}) has {tb} blocks, so model.num_layers must divide it (got {sb}).");
        int k = tb / sb;
        using var _ = no_grad();
        foreach (var (name, p) in targets)
        {
            var from = BlockIndex().Replace(name, m => $"blocks.{int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) * k}.", 1);
            if (!source.TryGetValue(from, out var t))
                throw new RecipeException($"objective.student_init teacher_layers: the teacher ({teacherDir}) has no '{from}' for the student's '{name}'; teacher and student must be the same architecture.");
            if (!t.shape.SequenceEqual(p.shape))
                throw new RecipeException($"objective.student_init teacher_layers: '{from}' is [{string.Join(", ", t.shape)}] in the teacher ({teacherDir}) and '{name}' [{string.Join(", ", p.shape)}] in the student; "
                    + "copying layers needs the teacher's width (model.embed_dim, num_heads, mlp_hidden_dim, vocab): use student_init: random for another width.");
            p.copy_(t);
        }
    }

    [GeneratedRegex(@"blocks\.(\d+)\.")]
    private static partial Regex BlockIndex();
}
