using System.Text.Json.Nodes;
using Pretrain.Data.Text;

namespace Pretrain.Cli.Tests.Import;

/// <summary>
/// An imported llama-family folder keeps its own EOS: tokenizer_config.json's eos_token (string or AddedToken), else
/// the token of config.json's / generation_config.json's eos_token_id, not a fixed <c>&lt;/s&gt;</c>.
/// </summary>
[Collection("torch")]
public sealed class ImportEosTests
{
    // A byte-level BPE tokenizer.json with Llama-3's special tokens as added tokens (ids 50, 51, 52).
    private static void WriteTokenizer(string dir)
    {
        var vocab = new JsonObject();
        for (var i = 0; i < 50; i++)
            vocab[((char)('a' + i % 26)).ToString() + (i < 26 ? "" : "a")] = i;
        var added = new JsonArray();
        foreach (var (id, token) in new[] { (50, "<|begin_of_text|>"), (51, "<|end_of_text|>"), (52, "<|eot_id|>") })
            added.Add(new JsonObject { ["id"] = id, ["content"] = token, ["special"] = true });
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), new JsonObject
        {
            ["added_tokens"] = added,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = new JsonArray() },
        }.ToJsonString());
    }

    [Theory]
    [InlineData("tokenizer_config", "<|eot_id|>", 52)]
    [InlineData("added_token", "<|eot_id|>", 52)]
    [InlineData("config_list", "<|end_of_text|>", 51)]
    [InlineData("generation_config", "<|eot_id|>", 52)]
    [InlineData("unknown_token", "<|end_of_text|>", 51)]
    public void Imported_tokenizer_takes_eos_from_the_folder(string source, string eos, int eosId)
    {
        using var dir = new TempDir();
        HfFolders.Write(dir["hf"], "llama");
        WriteTokenizer(dir["hf"]);
        var configPath = Path.Combine(dir["hf"], "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config.Remove("eos_token_id");
        config.Remove("bos_token_id");
        switch (source)
        {
            case "tokenizer_config":
                File.WriteAllText(Path.Combine(dir["hf"], "tokenizer_config.json"), """{"eos_token": "<|eot_id|>", "bos_token": "<|begin_of_text|>"}""");
                break;
            case "added_token":
                File.WriteAllText(Path.Combine(dir["hf"], "tokenizer_config.json"), """{"eos_token": {"content": "<|eot_id|>", "special": true}}""");
                break;
            case "config_list":
                config["eos_token_id"] = new JsonArray(51, 52); // Llama-3 Instruct lists several; the first is the text's end
                break;
            case "generation_config":
                File.WriteAllText(Path.Combine(dir["hf"], "generation_config.json"), """{"bos_token_id": 50, "eos_token_id": 52}""");
                break;
            default: // a name tokenizer.json does not hold is passed over for the id
                File.WriteAllText(Path.Combine(dir["hf"], "tokenizer_config.json"), """{"eos_token": "</s>"}""");
                config["eos_token_id"] = 51;
                break;
        }
        File.WriteAllText(configPath, config.ToJsonString());

        var r = CliRunner.Run("import", dir["hf"], "--out", dir["ckpt"]);
        Assert.True(r.Code == 0, r.Out + r.Err);
        var written = JsonNode.Parse(File.ReadAllText(Path.Combine(dir["ckpt"], "tokenizer", "tokenizer_config.json")))!;
        Assert.Equal(eos, written["eos_token"]!.GetValue<string>());
        var tokenizer = TokenizerFactory.Load(Path.Combine(dir["ckpt"], "tokenizer"));
        Assert.Equal(eosId, tokenizer.EosId);
        var modelConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(dir["ckpt"], "config.json")))!;
        if (source is "config_list" or "generation_config" or "unknown_token")
            Assert.Equal(source == "config_list" ? 51 : source == "generation_config" ? 52 : 51, modelConfig["eos_token_id"]!.GetValue<int>());
        if (source == "generation_config")
            Assert.Equal(50, modelConfig["bos_token_id"]!.GetValue<int>());
    }
}
