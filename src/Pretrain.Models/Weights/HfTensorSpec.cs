namespace Pretrain.Models.Weights;

/// <summary>How one Hugging Face tensor is made from ours.</summary>
internal enum HfTransform
{
    /// <summary>Same tensor.</summary>
    Copy,

    /// <summary>GPT-2 Conv1D: stored [in, out], ours is nn.Linear's [out, in].</summary>
    Transpose,

    /// <summary>Rows concatenated: GPT-2's c_attn bias (q|k|v), Phi-3's qkv_proj and gate_up_proj weights.</summary>
    Concat,

    /// <summary>GPT-2 c_attn weight: q, k, v weights concatenated along out, then transposed to [in, 3·out].</summary>
    ConcatTranspose,
}

/// <summary>One Hugging Face tensor name, the parameter names of ours it holds, and how.</summary>
internal sealed record HfTensorSpec(string HfName, string[] Ours, HfTransform Transform);
