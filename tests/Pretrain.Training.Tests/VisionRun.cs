namespace Pretrain.Training.Tests;

/// <summary>Tiny ViT recipes (mae, simclr) on synthetic shape images, for the vision task tests.</summary>
internal static class VisionRun
{
    public static string Recipe(TempDir dir, string kind, int maxSteps)
    {
        var path = dir[kind + ".yaml"];
        string objective = kind == "mae"
            ? "{kind: mae, mask_ratio: 0.75, decoder_dim: 16, decoder_layers: 1, decoder_heads: 2, probe: both, probe_train_rows: 32, probe_eval_rows: 16}"
            : "{kind: simclr, projection_dim: 8, probe: both, probe_train_rows: 32, probe_eval_rows: 16}";
        File.WriteAllText(path, $$$"""
            name: vit-{{{kind}}}
            model: {arch: vit, image_size: 28, patch_size: 7, channels: 1, embed_dim: 16, num_layers: 1, num_heads: 2, dropout: 0.1}
            objective: {{{objective}}}
            data:
              train: {synthetic: {kind: images, rows: 64, shards: 2, rows_per_group: 16, seed: 1}}
              eval: {fraction: 0.25, max_batches: 1}
              prefetch: 4
            optimizer: {lr: 3.0e-3, weight_decay: 0.05}
            schedule: {kind: cosine, warmup_steps: 1}
            train: {max_steps: {{{maxSteps}}}, micro_batch_size: 4, threads: 1, log_every: 1, eval_every: 4, checkpoint_every: 4, keep_last: 10}
            """);
        return path;
    }
}
