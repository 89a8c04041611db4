using Pretrain.Data.Text;
using Pretrain.Training.Recipes;

namespace Pretrain.Training.Tasks;

/// <summary>Small rules every task builder shares when it maps the recipe onto a model config.</summary>
public static class TaskModels
{
    /// <summary>model.vocab_size, or the tokenizer's size rounded up to a multiple of 64 (faster matmuls).</summary>
    public static int VocabSize(ModelSection m, ITextTokenizer tokenizer)
    {
        int vocab = m.VocabSize ?? (tokenizer.VocabSize + 63) / 64 * 64;
        if (vocab < tokenizer.VocabSize)
            throw new RecipeException($"model.vocab_size ({vocab}) is smaller than the tokenizer's vocabulary ({tokenizer.VocabSize}). Remove it to use the tokenizer's size.");
        return vocab;
    }

    /// <summary>Runs a config's own validation, turning its ArgumentException into a recipe error.</summary>
    public static void Validate(Action validate)
    {
        try { validate(); }
        catch (ArgumentException e) { throw new RecipeException(e.Message, e); }
    }
}
