using Pretrain.Models.Text;
using Pretrain.Models.Vision;

namespace Pretrain.Models.Tests;

/// <summary>Tiny encoder-family configurations shared by the tests (milliseconds per forward on two CPU cores).</summary>
internal static class TinyEncoderConfigs
{
    public static EncoderLmConfig Bert(bool postNorm = true, bool pooler = false) => new()
    {
        VocabSize = 41, MaxSeqLen = 16, TypeVocabSize = 2, EmbedDim = 32, NumLayers = 2, NumHeads = 4, MlpHiddenDim = 48,
        Dropout = 0.1, AttentionDropout = 0.1, PostNorm = postNorm, Pooler = pooler,
    };

    public static VitConfig Vit(bool classToken = true, string posEmbed = "learned") => new()
    {
        ImageSize = 16, PatchSize = 4, NumChannels = 3, EmbedDim = 32, NumLayers = 2, NumHeads = 4, MlpHiddenDim = 48,
        NormEps = 1e-6, ClassToken = classToken, GlobalPool = classToken ? "cls" : "mean", PosEmbed = posEmbed,
    };

    public static MaeDecoderConfig MaeDecoder() => new() { EmbedDim = 24, NumLayers = 1, NumHeads = 2 };
}
