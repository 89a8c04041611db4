using System.Text.Json.Nodes;
using Pretrain.Models.Peft;
using Pretrain.Models.Tests.Reference;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Peft;

/// <summary>
/// DoRA adapters in PEFT's files (use_dora, <c>&lt;module&gt;.lora_magnitude_vector</c>) and Phi-3's fused PEFT names
/// (qkv_proj, gate_up_proj): round trips, merged exports, and a file in PEFT's own shared-A layout.
/// </summary>
[Collection("torch")]
public sealed class DoraAdapterTests
{
    private static void Save(string dir, nn.Module model)
    {
        switch (model)
        {
            case DecoderLm d: PeftAdapterLayout.Save(dir, d); break;
            case EncoderLm e: PeftAdapterLayout.Save(dir, e); break;
        }
    }

    private static void Load(string dir, nn.Module model)
    {
        switch (model)
        {
            case DecoderLm d: PeftAdapterLayout.Load(dir, d); break;
            case EncoderLm e: PeftAdapterLayout.Load(dir, e); break;
        }
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    [InlineData("phi3")]
    [InlineData("bert")]
    public void Dora_adapter_round_trips_and_its_merged_export_is_the_adapted_model(string arch)
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        var lora = LoraModelTests.ConfigFor(arch) with { UseDora = true, Targets = arch == "gpt2" ? ["q_proj", "v_proj", "down_proj"] : LoraModelTests.ConfigFor(arch).Targets };
        using var source = LoraModels.Build(arch, lora);
        LoraModels.RandomizeAdapters(source, 1);
        PeftMergeReferenceTests.TrainMagnitudes(source, 5);
        source.eval();
        Save(dir.Path, source);

        var json = JsonNode.Parse(File.ReadAllText(dir.File(PeftAdapterLayout.ConfigFile)))!;
        Assert.True(json["use_dora"]!.GetValue<bool>());
        var file = Safetensors.Load(dir.File(PeftAdapterLayout.WeightsFile));
        var magnitudes = file.Where(kv => kv.Key.EndsWith(".lora_magnitude_vector", StringComparison.Ordinal)).ToList();
        Assert.Equal(file.Count / 3, magnitudes.Count); // A, B and m per adapted PEFT module
        Assert.All(magnitudes, kv => Assert.Equal(file[kv.Key[..^"lora_magnitude_vector".Length] + "lora_B.weight"].shape[0], kv.Value.shape.Single()));

        // A fresh model on the same base, other adapters: the load (m included, not reset by the first forward) makes it the same.
        var config = PeftAdapterLayout.ReadConfig(dir.Path);
        Assert.True(config.UseDora);
        using var target = LoraModels.Build(arch, config);
        LoraModels.RandomizeAdapters(target, 2);
        Load(dir.Path, target);
        target.eval();
        var x = LoraModels.Input(arch);
        using var _ = torch.no_grad();
        var adapted = LoraModels.Forward(target, x);
        Assert.True(LoraModels.MaxDiff(adapted, LoraModels.Forward(source, x)) < 1e-6);
        Assert.True(LoraModels.MaxDiff(adapted, LoraModels.Forward(LoraModels.Build(arch, null), x)) > 1e-2); // the adapter does something

        // Merged export into a plain model computes what the adapted one does.
        var merged = LoraModel.ExportMerged(target, () => LoraModelTests.ToHf(target));
        using var plain = LoraModels.Build(arch, null);
        LoraModelTests.LoadHf(plain, merged);
        plain.eval();
        var diff = LoraModels.MaxDiff(LoraModels.Forward(plain, x), adapted);
        Assert.True(diff < 1e-4, $"merged vs adapted: {diff}");
    }

    [Fact]
    public void A_dora_model_on_an_nf4_base_fits_a_fixed_batch_training_only_its_adapters()
    {
        using var scope = torch.NewDisposeScope();
        var lora = LoraModelTests.ConfigFor("llama") with { UseDora = true, Targets = LoraConfig.KnownTargets };
        using var model = (DecoderLm)LoraModels.Build("llama", lora);
        LoraModel.FreezeBase(model);
        LoraModel.QuantizeBase(model, "nf4"); // QLoRA + DoRA: the norms are taken of the dequantized base
        var names = LoraModel.TrainableParameters(model).Select(p => p.Name).ToList();
        Assert.Contains("blocks.0.attn.q_proj.lora_magnitude", names);
        Assert.All(names, n => Assert.True(LoraLinear.IsAdapterParameter(n), n));
        var tokens = LoraModels.Input("llama");                              // (2, 7)
        var (input, target) = (tokens[.., ..^1], tokens[.., 1..]);
        using var optimizer = torch.optim.Adam(LoraModel.TrainableParameters(model).Select(p => p.Param), lr: 3e-2);
        var losses = new List<float>();
        for (var step = 0; step < 20; step++)
        {
            using var stepScope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var logits = model.call(input);                                   // (2, 6, vocab)
            var loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), target.reshape(-1));
            loss.backward();
            optimizer.step();
            losses.Add(loss.item<float>());
        }
        Assert.True(losses[^1] < losses[0] - 0.3, $"loss {losses[0]:F3} → {losses[^1]:F3}");
    }

    [Fact]
    public void Phi3_adapters_use_peft_fused_names_and_round_trip()
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        using var source = LoraModels.Build("phi3", LoraModelTests.ConfigFor("phi3")); // q, v, gate, down
        LoraModels.RandomizeAdapters(source, 1);
        Save(dir.Path, source);
        var file = Safetensors.Load(dir.File(PeftAdapterLayout.WeightsFile));
        const string layer = "base_model.model.model.layers.1.";
        Assert.Equal(new long[] { 8, 32 }, file[layer + "self_attn.qkv_proj.lora_A.weight"].shape);   // [A_q; A_v]
        Assert.Equal(new long[] { 64, 8 }, file[layer + "self_attn.qkv_proj.lora_B.weight"].shape);   // q 32 + k 16 + v 16 rows
        var hidden = file[layer + "mlp.down_proj.lora_A.weight"].shape[1];
        Assert.Equal(new long[] { 2 * hidden, 4 }, file[layer + "mlp.gate_up_proj.lora_B.weight"].shape);
        Assert.DoesNotContain(file.Keys, k => k.Contains("q_proj", StringComparison.Ordinal) || k.Contains(".gate_proj", StringComparison.Ordinal));
        var json = JsonNode.Parse(File.ReadAllText(dir.File(PeftAdapterLayout.ConfigFile)))!;
        Assert.Equal("[\"down_proj\",\"gate_up_proj\",\"qkv_proj\"]", json["target_modules"]!.ToJsonString());
        Assert.Equal(8, json["rank_pattern"]!["qkv_proj"]!.GetValue<int>());
        Assert.Equal(16, json["alpha_pattern"]!["qkv_proj"]!.GetValue<double>());
        Assert.Null(json["rank_pattern"]!["gate_up_proj"]); // one targeted part: rank r as it is

        using var target = LoraModels.Build("phi3", PeftAdapterLayout.ReadConfig(dir.Path));
        Load(dir.Path, target);
        var want = source.state_dict();
        foreach (var (name, t) in target.state_dict())
            Assert.True(t.equal(want[name]).all().item<bool>(), name);
    }

    [Fact]
    public void A_peft_phi3_dora_file_with_shared_A_loads_and_computes_peft_merge()
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        // As PEFT writes Phi-3 with target_modules qkv_proj, o_proj, gate_up_proj, down_proj and use_dora: one A [r, in],
        // one B [rows, r] and one m [rows] per module, no pretrain extras.
        var baseHf = LoraModelTests.ToHf(LoraModels.Build("phi3", null));
        var modules = new[] { "self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj" };
        var tensors = new Dictionary<string, Tensor>();
        var merged = new Dictionary<string, Tensor>(baseHf);
        using var g = new Generator(7);
        for (var i = 0; i < 2; i++)
        {
            foreach (var module in modules)
            {
                var path = $"model.layers.{i}.{module}";
                var w = baseHf[path + ".weight"];                       // (rows, in)
                var a = torch.randn([4, w.shape[1]], generator: g) * 0.3;
                var b = torch.randn([w.shape[0], 4], generator: g) * 0.3;
                var m = torch.rand([w.shape[0]], generator: g) + 0.5;
                tensors[$"base_model.model.{path}.lora_A.weight"] = a;
                tensors[$"base_model.model.{path}.lora_B.weight"] = b;
                tensors[$"base_model.model.{path}.lora_magnitude_vector"] = m;
                var v = w + b.matmul(a) * (8.0 / 4);                     // W + (α/r)·B·A
                merged[path + ".weight"] = (m / v.square().sum(1).sqrt()).unsqueeze(1) * v; // m ⊙ V / ‖V‖ per row
            }
        }
        Safetensors.Save(dir.File(PeftAdapterLayout.WeightsFile), tensors);
        File.WriteAllText(dir.File(PeftAdapterLayout.ConfigFile),
            """{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "lora_dropout": 0.05, "target_modules": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"], "bias": "none", "use_dora": true, "use_rslora": false}""");
        var config = PeftAdapterLayout.ReadConfig(dir.Path, "phi3");
        Assert.Equal(LoraConfig.KnownTargets, config.Targets);
        Assert.True(config.UseDora);
        using var model = LoraModels.Build("phi3", config);
        Load(dir.Path, model);
        using var plain = LoraModels.Build("phi3", null);
        LoraModelTests.LoadHf(plain, merged);
        model.eval();
        plain.eval();
        var x = LoraModels.Input("phi3");
        using var _ = torch.no_grad();
        var diff = LoraModels.MaxDiff(LoraModels.Forward(model, x), LoraModels.Forward(plain, x));
        Assert.True(diff < 1e-4, $"ours vs PEFT's merge: {diff}");

        // The same file is refused by a model built without DoRA, naming why.
        using var noDora = LoraModels.Build("phi3", config with { UseDora = false });
        var e = Assert.Throws<WeightsException>(() => Load(dir.Path, noDora));
        Assert.Contains("use_dora", e.Message, StringComparison.Ordinal);
    }
}
