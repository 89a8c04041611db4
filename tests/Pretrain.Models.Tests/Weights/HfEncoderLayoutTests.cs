using Pretrain.Models.Heads;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Weights;

[Collection("torch")]
public sealed class HfEncoderLayoutTests
{
    [Theory]
    [InlineData(true, true)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public void ToHf_then_LoadHf_gives_identical_outputs(bool taskPrefix, bool postNorm)
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        var config = TinyEncoderConfigs.Bert(postNorm, pooler: true);
        var (source, sourceHead, sourceClassifier) = Build(config, seed: 1);
        var (target, targetHead, targetClassifier) = Build(config, seed: 2);

        var path = dir.File("model.safetensors");
        Safetensors.Save(path, HfEncoderLayout.ToHf(source, sourceHead, sourceClassifier, taskPrefix));
        var loaded = Safetensors.Load(path);
        Assert.Equal(taskPrefix, loaded.ContainsKey("bert.embeddings.word_embeddings.weight"));
        Assert.Contains("cls.predictions.bias", loaded.Keys);
        Assert.Contains("classifier.weight", loaded.Keys);
        Assert.Empty(HfEncoderLayout.LoadHf(target, loaded, targetHead, targetClassifier));

        var ids = torch.randint(0, 41, [2, 7], ScalarType.Int64);
        var mask = torch.tensor(new long[,] { { 1, 1, 1, 1, 1, 0, 0 }, { 1, 1, 1, 1, 1, 1, 1 } });
        using var _ = torch.no_grad();
        var (a, b) = (source.call(ids, mask, null), target.call(ids, mask, null));
        Assert.True(a.equal(b).all().item<bool>());
        Assert.True(sourceHead.call(a, null).equal(targetHead.call(b, null)).all().item<bool>());
        Assert.True(sourceClassifier.call(source.Pool(a)).equal(targetClassifier.call(target.Pool(b))).all().item<bool>());
    }

    [Fact]
    public void Bert_names()
    {
        using var scope = torch.NewDisposeScope();
        var (model, head, _) = Build(TinyEncoderConfigs.Bert(pooler: true), seed: 3);
        var hf = HfEncoderLayout.ToHf(model, head, taskPrefix: false);
        foreach (var n in new[] { "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight", "embeddings.token_type_embeddings.weight",
                     "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias", "encoder.layer.1.attention.self.query.weight",
                     "encoder.layer.1.attention.self.key.bias", "encoder.layer.1.attention.self.value.weight",
                     "encoder.layer.1.attention.output.dense.weight", "encoder.layer.1.attention.output.LayerNorm.bias",
                     "encoder.layer.1.intermediate.dense.weight", "encoder.layer.1.output.dense.bias", "encoder.layer.1.output.LayerNorm.weight",
                     "pooler.dense.weight", "pooler.dense.bias", "cls.predictions.transform.dense.weight",
                     "cls.predictions.transform.LayerNorm.bias", "cls.predictions.bias" })
            Assert.Contains(n, hf.Keys);
        Assert.Equal(5 + 2 * 16 + 2 + 5, hf.Count); // no tied decoder
        Assert.Equal(new long[] { 48, 32 }, hf["encoder.layer.0.intermediate.dense.weight"].shape); // nn.Linear [out, in]
    }

    [Fact]
    public void A_backbone_loads_from_a_task_checkpoint_and_reports_what_it_skipped()
    {
        using var scope = torch.NewDisposeScope();
        var (source, head, classifier) = Build(TinyEncoderConfigs.Bert(pooler: true), seed: 4);
        var hf = HfEncoderLayout.ToHf(source, head, classifier);
        hf["bert.embeddings.position_ids"] = torch.arange(16, ScalarType.Int64).unsqueeze(0);
        hf["cls.predictions.decoder.weight"] = source.WordEmbeddings.detach();
        hf["cls.seq_relationship.weight"] = torch.zeros(2, 32);
        using var backbone = new EncoderLm(TinyEncoderConfigs.Bert()); // no pooler
        var skipped = HfEncoderLayout.LoadHf(backbone, hf);
        Assert.Equal(new[] { "classifier.bias", "classifier.weight", "cls.predictions.bias", "cls.predictions.decoder.weight",
            "cls.predictions.transform.LayerNorm.bias", "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.dense.bias",
            "cls.predictions.transform.dense.weight", "cls.seq_relationship.weight", "embeddings.position_ids", "pooler.dense.bias",
            "pooler.dense.weight" }, skipped);
        Assert.True(backbone.WordEmbeddings.equal(source.WordEmbeddings).all().item<bool>());
    }

    [Fact]
    public void Legacy_gamma_beta_names_load()
    {
        using var scope = torch.NewDisposeScope();
        var (source, _, _) = Build(TinyEncoderConfigs.Bert(), seed: 5);
        var hf = HfEncoderLayout.ToHf(source).ToDictionary(
            kv => kv.Key.Replace("LayerNorm.weight", "LayerNorm.gamma", StringComparison.Ordinal).Replace("LayerNorm.bias", "LayerNorm.beta", StringComparison.Ordinal),
            kv => kv.Value);
        Assert.Contains("bert.embeddings.LayerNorm.gamma", hf.Keys);
        using var target = new EncoderLm(TinyEncoderConfigs.Bert());
        HfEncoderLayout.LoadHf(target, hf);
        Assert.True(target.state_dict()["blocks.1.norm2.bias"].equal(source.state_dict()["blocks.1.norm2.bias"]).all().item<bool>());
    }

    [Fact]
    public void Problems_are_reported_together_and_nothing_is_loaded()
    {
        using var scope = torch.NewDisposeScope();
        var (source, _, _) = Build(TinyEncoderConfigs.Bert(), seed: 6);
        var hf = HfEncoderLayout.ToHf(source);
        hf.Remove("bert.encoder.layer.1.output.dense.bias");
        hf["bert.encoder.layer.0.attention.self.query.weight"] = torch.zeros(32, 31);
        hf["bert.encoder.layer.9.output.dense.bias"] = torch.zeros(32);
        using var target = new EncoderLm(TinyEncoderConfigs.Bert());
        var before = target.WordEmbeddings.clone();
        var e = Assert.Throws<WeightsException>(() => HfEncoderLayout.LoadHf(target, hf));
        Assert.Contains("missing: encoder.layer.1.output.dense.bias", e.Message);
        Assert.Contains("unexpected: encoder.layer.9.output.dense.bias", e.Message);
        Assert.Contains("'encoder.layer.0.attention.self.query.weight' has shape [32, 31], the model needs [32, 32]", e.Message);
        Assert.True(target.WordEmbeddings.equal(before).all().item<bool>());

        // Both with and without the prefix is ambiguous.
        var twice = HfEncoderLayout.ToHf(source);
        twice["embeddings.word_embeddings.weight"] = twice["bert.embeddings.word_embeddings.weight"];
        Assert.Contains("both with and without", Assert.Throws<WeightsException>(() => HfEncoderLayout.LoadHf(target, twice)).Message);
    }

    [Theory]
    [InlineData(true, null, 2)]
    [InlineData(false, 48, 2)]
    [InlineData(true, 128, 0)]
    public void Config_json_round_trips(bool postNorm, int? mlp, int types)
    {
        var config = TinyEncoderConfigs.Bert(postNorm, pooler: !postNorm) with { MlpHiddenDim = mlp, TypeVocabSize = types };
        var json = HfEncoderLayout.ConfigJson(config);
        var expectedType = !postNorm ? "pretrain-bert-preln" : types == 0 ? "pretrain-bert" : "bert";
        Assert.Equal(expectedType, json["model_type"]!.GetValue<string>());
        Assert.Equal("gelu", json["hidden_act"]!.GetValue<string>());
        Assert.Equal(config, HfEncoderLayout.ConfigFromJson(System.Text.Json.Nodes.JsonNode.Parse(json.ToJsonString())!.AsObject()));
    }

    [Fact]
    public void Config_json_from_hugging_face_without_our_extras()
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse("""
            {"model_type": "bert", "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
             "intermediate_size": 1536, "hidden_act": "gelu", "max_position_embeddings": 512, "type_vocab_size": 2,
             "layer_norm_eps": 1e-12, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}
            """)!.AsObject();
        var config = HfEncoderLayout.ConfigFromJson(json);
        Assert.Equal(1536, config.MlpDim);
        Assert.True(config.PostNorm);
        json["hidden_act"] = "relu";
        Assert.Contains("hidden_act", Assert.Throws<WeightsException>(() => HfEncoderLayout.ConfigFromJson(json)).Message);
    }

    private static (EncoderLm Model, MlmHead Head, ClassifierHead Classifier) Build(EncoderLmConfig config, int seed)
    {
        var model = new EncoderLm(config);
        var head = new MlmHead(model);
        var classifier = new ClassifierHead(config.EmbedDim, 3);
        TestWeights.Randomize(model, seed);
        TestWeights.Randomize(head, seed + 100);
        TestWeights.Randomize(classifier, seed + 200);
        model.eval();
        head.eval();
        classifier.eval();
        return (model, head, classifier);
    }
}
