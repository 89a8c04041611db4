namespace Pretrain.Models.Peft;

/// <summary>What <see cref="PeftAdapterLayout"/> writes into <c>adapter_config.json</c> beside the adapter weights.</summary>
public sealed record PeftAdapterOptions
{
    /// <summary>PEFT's <c>base_model_name_or_path</c>: the base checkpoint folder or Hugging Face model id.</summary>
    public string? BaseModelNameOrPath { get; init; }

    /// <summary>The base weights file (e.g. its model.safetensors); its sha256 is written so a load onto another base is refused.</summary>
    public string? BaseWeightsFile { get; init; }

    /// <summary>The base weights' sha256 (lower-case hex), when it is known without reading the file again.</summary>
    public string? BaseSha256 { get; init; }

    /// <summary>PEFT's <c>task_type</c>; null means CAUSAL_LM for decoders, SEQ_CLS for an encoder with a classifier,
    /// FEATURE_EXTRACTION for an encoder without, and none for ViT (PEFT has no image task type).</summary>
    public string? TaskType { get; init; }

    /// <summary>
    /// Backbone parameters that were trained beside the adapters (as given to <see cref="LoraModel.FreezeBase"/>: glob
    /// patterns over our parameter names, e.g. <c>"*norm*"</c>); they are saved as PEFT's <c>modules_to_save</c>.
    /// A classifier head passed to the save is always saved whole.
    /// </summary>
    public IReadOnlyList<string> ModulesToSave { get; init; } = [];
}
