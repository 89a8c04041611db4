using System.Text.Json.Nodes;
using Pretrain.Models.Heads;
using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Peft;

[Collection("torch")]
public sealed class PeftAdapterLayoutTests
{
    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    [InlineData("bert")]
    [InlineData("vit")]
    public void Adapter_round_trips_through_the_peft_files(string arch)
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        var lora = LoraModelTests.ConfigFor(arch);
        using var source = LoraModels.Build(arch, lora);
        LoraModels.RandomizeAdapters(source, 1);
        using var head = arch is "bert" or "vit" ? new ClassifierHead(32, 3) : null;
        LoraModel.FreezeBase(source, "*norm*");
        var basePath = dir.File("base.safetensors");
        Safetensors.Save(basePath, LoraModelTests.ToHf(LoraModels.Build(arch, null)));
        var options = new PeftAdapterOptions { BaseModelNameOrPath = "base/", BaseWeightsFile = basePath, ModulesToSave = ["*norm*"] };
        Save(dir.File("adapter"), source, head, options);

        // A fresh model on the same base with other adapters, norms and head: the load makes it the same model.
        using var target = LoraModels.Build(arch, PeftAdapterLayout.ReadConfig(dir.File("adapter")));
        LoraModels.RandomizeAdapters(target, 2);
        using var head2 = head is null ? null : new ClassifierHead(32, 3);
        using (torch.no_grad())
        {
            foreach (var (name, p) in target.named_parameters().Where(p => p.name.Contains("norm", StringComparison.Ordinal)))
                p.add_(0.5);
        }
        Load(dir.File("adapter"), target, head2, basePath);
        var want = source.state_dict();
        foreach (var (name, t) in target.state_dict())
            Assert.True(t.equal(want[name]).all().item<bool>(), name);
        if (head is not null)
            Assert.True(head2!.state_dict()["fc.weight"].equal(head.state_dict()["fc.weight"]).all().item<bool>());

        // Adapter-only: LoRA matrices, the trained norms and the head; every name under base_model.model.
        var file = Safetensors.Load(dir.File("adapter/adapter_model.safetensors"));
        Assert.All(file.Keys, k => Assert.StartsWith("base_model.model.", k));
        var trainable = source.named_parameters().Count(p => p.parameter.requires_grad);
        var expectedCount = trainable - (arch == "gpt2" ? 2 * 2 * 3 - 2 * 2 : 0) + (head is null ? 0 : 2); // gpt2: q/k/v → one c_attn pair
        Assert.Equal(expectedCount, file.Count);
        var json = JsonNode.Parse(File.ReadAllText(dir.File("adapter/adapter_config.json")))!.AsObject();
        Assert.Equal("LORA", json["peft_type"]!.GetValue<string>());
        Assert.Equal(4, json["r"]!.GetValue<int>());
        Assert.Equal(8, json["lora_alpha"]!.GetValue<double>());
        Assert.Equal("none", json["bias"]!.GetValue<string>());
        Assert.Equal(arch == "gpt2", json["fan_in_fan_out"]!.GetValue<bool>());
        Assert.Equal("base/", json["base_model_name_or_path"]!.GetValue<string>());
        Assert.Equal(PeftAdapterLayout.Sha256File(basePath), json["pretrain"]!["base_sha256"]!.GetValue<string>());
    }

    [Fact]
    public void Peft_names_and_target_modules_are_hugging_face_names()
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        var cases = new (string Arch, string[] Targets, string Key, string TargetModules)[]
        {
            ("gpt2", ["q_proj", "k_proj", "v_proj", "o_proj"], "transformer.h.1.attn.c_attn", "[\"attn.c_proj\",\"c_attn\"]"),
            ("llama", ["q_proj", "v_proj"], "model.layers.1.self_attn.q_proj", "[\"q_proj\",\"v_proj\"]"),
            ("bert", ["q_proj", "v_proj"], "bert.encoder.layer.1.attention.self.query", "[\"query\",\"value\"]"),
            ("vit", ["q_proj", "up_proj"], "vit.encoder.layer.1.attention.attention.query", "[\"intermediate.dense\",\"query\"]"),
            ("bert", ["down_proj"], "bert.encoder.layer.1.output.dense",
                @"(?:.*\.)?bert\.encoder\.layer\.\d+\.(?:output\.dense)"),
        };
        foreach (var (arch, targets, key, targetModules) in cases)
        {
            using var model = LoraModels.Build(arch, new LoraConfig { Rank = 2, Targets = targets });
            var folder = dir.File(arch + targets.Length);
            Save(folder, model, null, new PeftAdapterOptions());
            var file = Safetensors.Load(Path.Combine(folder, PeftAdapterLayout.WeightsFile));
            Assert.Contains($"base_model.model.{key}.lora_A.weight", file.Keys);
            Assert.Contains($"base_model.model.{key}.lora_B.weight", file.Keys);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, PeftAdapterLayout.ConfigFile)))!;
            var written = json["target_modules"]!;
            Assert.Equal(targetModules, written is JsonArray ? written.ToJsonString() : written.GetValue<string>()); // list, or one regex
            Assert.Equal(targets, PeftAdapterLayout.ReadConfig(folder).Targets);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Gpt2_c_attn_adapter_is_the_exact_fused_update(bool rslora)
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        var lora = new LoraConfig { Rank = 4, Alpha = 6, Targets = ["q_proj", "v_proj"], UseRslora = rslora };
        using var model = new DecoderLm(TinyConfigs.Gpt2(), lora);
        LoraModels.RandomizeAdapters(model, 3);
        PeftAdapterLayout.Save(dir.Path, model);
        var file = Safetensors.Load(dir.File(PeftAdapterLayout.WeightsFile));
        var json = JsonNode.Parse(File.ReadAllText(dir.File(PeftAdapterLayout.ConfigFile)))!;
        var a = file["base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"]; // (2r, in)
        var b = file["base_model.model.transformer.h.0.attn.c_attn.lora_B.weight"]; // (3d, 2r)
        Assert.Equal(new long[] { 8, 32 }, a.shape);
        Assert.Equal(new long[] { 96, 8 }, b.shape);
        var rank = json["rank_pattern"]!["c_attn"]!.GetValue<int>();
        var alpha = json["alpha_pattern"]!["c_attn"]!.GetValue<double>();
        Assert.Equal(8, rank);

        // PEFT's update of c_attn (as nn.Linear's [out, in]) is (alpha/rank)·B·A, or alpha/√rank with rsLoRA.
        var peft = b.matmul(a) * (rslora ? alpha / Math.Sqrt(rank) : alpha / rank);
        var layers = LoraModel.Layers(model).Where(l => l.Name.StartsWith("blocks.0.", StringComparison.Ordinal)).ToDictionary(l => l.Name, l => l.Layer);
        var ours = torch.cat([layers["blocks.0.attn.q_proj"].Delta(), torch.zeros(32, 32), layers["blocks.0.attn.v_proj"].Delta()], 0);
        Assert.True(LoraModels.MaxDiff(peft, ours) < 1e-6);
    }

    [Fact]
    public void A_peft_shared_A_c_attn_adapter_loads_onto_separate_q_k_v()
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        // As PEFT itself writes GPT-2: one A (r, in) and one B (3d, r) for c_attn, no pretrain extras.
        var a = torch.randn(4, 32);
        var b = torch.randn(96, 4);
        Safetensors.Save(dir.File(PeftAdapterLayout.WeightsFile), new Dictionary<string, Tensor>
        {
            ["base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"] = a,
            ["base_model.model.transformer.h.0.attn.c_attn.lora_B.weight"] = b,
            ["base_model.model.transformer.h.1.attn.c_attn.lora_A.weight"] = a,
            ["base_model.model.transformer.h.1.attn.c_attn.lora_B.weight"] = b,
        });
        File.WriteAllText(dir.File(PeftAdapterLayout.ConfigFile),
            """{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "lora_dropout": 0.1, "target_modules": ["c_attn"], "bias": "none", "fan_in_fan_out": true}""");
        var config = PeftAdapterLayout.ReadConfig(dir.Path, "gpt2");
        Assert.Equal(new[] { "q_proj", "k_proj", "v_proj" }, config.Targets);
        using var model = new DecoderLm(TinyConfigs.Gpt2(), config);
        PeftAdapterLayout.Load(dir.Path, model);
        var layers = LoraModel.Layers(model).Where(l => l.Name.StartsWith("blocks.1.", StringComparison.Ordinal)).Select(l => l.Layer);
        var ours = torch.cat(layers.Select(l => l.Delta()).ToArray(), 0);
        Assert.True(LoraModels.MaxDiff(ours, b.matmul(a) * 2.0) < 1e-5);
    }

    [Fact]
    public void An_adapter_for_another_model_is_refused_and_nothing_is_loaded()
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        using var llama = LoraModels.Build("llama", LoraModelTests.ConfigFor("llama"));
        PeftAdapterLayout.Save(dir.File("llama"), (DecoderLm)llama);
        using var bert = LoraModels.Build("bert", LoraModelTests.ConfigFor("bert"));
        PeftAdapterLayout.Save(dir.File("bert"), (EncoderLm)bert);

        using var gpt2 = (DecoderLm)LoraModels.Build("gpt2", LoraModelTests.ConfigFor("gpt2"));
        var e = Assert.Throws<WeightsException>(() => PeftAdapterLayout.Load(dir.File("llama"), gpt2));
        Assert.Contains("llama model, not gpt2", e.Message);

        // Same arch, other shapes: wider model and another rank. Every problem is listed; nothing changes.
        using var wide = new EncoderLm(TinyEncoderConfigs.Bert() with { EmbedDim = 48, MlpHiddenDim = 64 }, LoraModelTests.ConfigFor("bert") with { Rank = 2 });
        LoraModels.RandomizeAdapters(wide, 4);
        var before = wide.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        e = Assert.Throws<WeightsException>(() => PeftAdapterLayout.Load(dir.File("bert"), wide));
        Assert.Contains("base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight' has shape [4, 32], the model needs [2, 48]", e.Message);
        Assert.Contains("is scaled by 2 in the adapter", e.Message);
        foreach (var (name, t) in wide.state_dict())
            Assert.True(t.equal(before[name]).all().item<bool>(), name);

        // Fewer targets than the adapter holds: the extra tensors are named.
        using var fewer = new EncoderLm(TinyEncoderConfigs.Bert(), LoraModelTests.ConfigFor("bert") with { Targets = ["q_proj"] });
        e = Assert.Throws<WeightsException>(() => PeftAdapterLayout.Load(dir.File("bert"), fewer));
        Assert.Contains("unexpected 'base_model.model.bert.encoder.layer.0.attention.self.value.lora_A.weight'", e.Message);
    }

    [Fact]
    public void A_different_base_is_refused_unless_forced()
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        var lora = LoraModelTests.ConfigFor("llama");
        File.WriteAllText(dir.File("base-a.safetensors"), "weights A");
        File.WriteAllText(dir.File("base-b.safetensors"), "weights B");
        using var source = new DecoderLm(TinyConfigs.Llama(), lora);
        LoraModels.RandomizeAdapters(source, 6);
        PeftAdapterLayout.Save(dir.File("adapter"), source, new PeftAdapterOptions { BaseWeightsFile = dir.File("base-a.safetensors") });

        using var target = new DecoderLm(TinyConfigs.Llama(), lora);
        var e = Assert.Throws<WeightsException>(() => PeftAdapterLayout.Load(dir.File("adapter"), target, dir.File("base-b.safetensors")));
        Assert.Contains("sha256", e.Message);
        Assert.All(target.named_parameters().Where(p => p.name.EndsWith("lora_b", StringComparison.Ordinal)),
            p => Assert.Equal(0, p.parameter.abs().sum().item<float>()));
        PeftAdapterLayout.Load(dir.File("adapter"), target, dir.File("base-a.safetensors"));
        using var other = new DecoderLm(TinyConfigs.Llama(), lora);
        PeftAdapterLayout.Load(dir.File("adapter"), other, dir.File("base-b.safetensors"), force: true);
        Assert.True(other.state_dict()["blocks.1.mlp.down_proj.lora_b"].equal(source.state_dict()["blocks.1.mlp.down_proj.lora_b"]).all().item<bool>());
    }

    private static void Save(string dir, nn.Module model, ClassifierHead? head, PeftAdapterOptions options)
    {
        switch (model)
        {
            case DecoderLm d: PeftAdapterLayout.Save(dir, d, options); break;
            case EncoderLm e: PeftAdapterLayout.Save(dir, e, head, options); break;
            case VisionTransformer v: PeftAdapterLayout.Save(dir, v, head, options); break;
        }
    }

    private static void Load(string dir, nn.Module model, ClassifierHead? head, string baseFile)
    {
        switch (model)
        {
            case DecoderLm d: PeftAdapterLayout.Load(dir, d, baseFile); break;
            case EncoderLm e: PeftAdapterLayout.Load(dir, e, head, baseFile); break;
            case VisionTransformer v: PeftAdapterLayout.Load(dir, v, head, baseFile); break;
        }
    }
}
