using Pretrain.Models.Text;

namespace Pretrain.Models.Tests;

/// <summary>Tiny configurations shared by the tests (seconds on two CPU cores).</summary>
internal static class TinyConfigs
{
    public static DecoderLmConfig Gpt2(bool tie = true) => new()
    {
        Arch = "gpt2", VocabSize = 37, MaxSeqLen = 16, EmbedDim = 32, NumLayers = 2, NumHeads = 4, TieEmbeddings = tie,
    };

    public static DecoderLmConfig Llama(bool tie = false) => new()
    {
        Arch = "llama", VocabSize = 37, MaxSeqLen = 16, EmbedDim = 32, NumLayers = 2, NumHeads = 4, NumKvHeads = 2,
        TieEmbeddings = tie, NormEps = 1e-6, RopeTheta = 500,
    };

    public static DecoderLmConfig ByArch(string arch) => arch == "llama" ? Llama() : Gpt2();
}
