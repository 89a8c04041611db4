using System.Collections.Concurrent;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Text;
using Pretrain.Training;

namespace Pretrain.Cli.Tests.Distributed;

/// <summary>
/// Data-parallel `pretrain run` under the real mpirun with 2 and 3 ranks on CPU (docs/distributed.md "Data-parallel
/// training"): N ranks × B against one process × N·B, packed-text cursors across world-size changes, and a SIGTERM to
/// one rank. Tiny models, one thread per rank.
/// </summary>
[Collection("mpi")]
public sealed class DataParallelTests
{
    private const string Classify = """
        name: dp-classify
        model: {arch: bert, max_seq_len: 16, embed_dim: 16, num_layers: 1, num_heads: 2, dropout: 0.0}
        objective: {kind: classify, pooling: mean, num_classes: 2}
        tokenizer: {kind: byte, eos_token: '[SEP]', special_tokens: ['[CLS]', '[MASK]', '[PAD]']}
        data:
          train: {synthetic: {kind: labelled-text, rows: 64, shards: 2, rows_per_group: 8, seed: 4}}
        optimizer: {lr: 5.0e-3}
        schedule: {kind: constant, warmup_steps: 0}
        train: {max_steps: 4, seq_len: 16, micro_batch_size: 4, threads: 1, log_every: 1, checkpoint_every: 4}
        """;

    [ReferenceFact(ReferenceTool.Mpi)]
    public void Classify_on_2_ranks_of_B_equals_one_process_of_2B_with_identical_weights_on_every_rank()
    {
        ReferenceTools.Require(ReferenceTool.Mpi);
        using var dir = new TempDir();
        File.WriteAllText(dir["r.yaml"], Classify);
        var (code2, out2) = MpiPretrain.Run(2, dir.Path, "run", "r.yaml", "--run-dir", "two", "--no-export");
        Assert.True(code2 == 0, out2);
        Assert.Contains("weights identical on all 2 ranks after step 4", out2.Replace("\n", " "));
        var (code1, out1) = MpiPretrain.Run(1, dir.Path, "run", "r.yaml", "--run-dir", "one", "--no-export", "--set", "train.micro_batch_size=8");
        Assert.True(code1 == 0, out1);

        var (relative, maxAbs) = MpiPretrain.Compare(Step(dir["one"], 4, "model.safetensors"), Step(dir["two"], 4, "model.safetensors"));
        Assert.True(relative < 1e-5 && maxAbs < 1e-5, $"2 ranks × 4 vs 1 × 8: weights differ by {relative:G3} relative, {maxAbs:G3} at most");
        var (l1, l2) = (MpiPretrain.Losses(dir["one"]), MpiPretrain.Losses(dir["two"]));
        Assert.Equal(4, l2.Length);   // rank 0 alone wrote metrics.jsonl: one row per step
        for (int i = 0; i < l1.Length; i++) Assert.True(Math.Abs(l1[i] - l2[i]) <= 1e-5 * Math.Abs(l1[i]), $"step {i + 1}: loss {l1[i]} vs {l2[i]}");
        var state = TrainerState.Load(Step(dir["two"], 4, "trainer_state.json"));
        Assert.Equal(4 * 8, DataCursor.FromJson(state.Cursor.GetRawText()).SampleInEpoch);   // the global position: 4 steps × 2 ranks × 4 rows
        Assert.Equal(2, state.RankRngStates!.Count);
    }

    [ReferenceFact(ReferenceTool.Mpi)]
    public void Simclr_negatives_from_both_ranks_equal_one_process_at_the_same_global_batch()
    {
        ReferenceTools.Require(ReferenceTool.Mpi);
        using var dir = new TempDir();
        File.WriteAllText(dir["r.yaml"], """
            name: dp-simclr
            model: {arch: vit, image_size: 28, patch_size: 7, channels: 1, embed_dim: 16, num_layers: 1, num_heads: 2, dropout: 0.0}
            objective: {kind: simclr, temperature: 0.5, projection_dim: 8}
            data:
              train: {synthetic: {kind: images, rows: 64, shards: 2, rows_per_group: 16, seed: 2}}
            optimizer: {lr: 1.0e-3}
            schedule: {kind: constant, warmup_steps: 0}
            train: {max_steps: 3, micro_batch_size: 4, threads: 1, log_every: 1, checkpoint_every: 3}
            """);
        var (code2, out2) = MpiPretrain.Run(2, dir.Path, "run", "r.yaml", "--run-dir", "two", "--no-export");
        Assert.True(code2 == 0, out2);
        var (code1, out1) = MpiPretrain.Run(1, dir.Path, "run", "r.yaml", "--run-dir", "one", "--no-export", "--set", "train.micro_batch_size=8");
        Assert.True(code1 == 0, out1);
        foreach (var file in new[] { "model.safetensors", "projection_head.safetensors" })
        {
            var (relative, maxAbs) = MpiPretrain.Compare(Step(dir["one"], 3, file), Step(dir["two"], 3, file));
            Assert.True(relative < 1e-5 && maxAbs < 1e-5, $"{file}: 2 ranks × 4 vs 1 × 8 differ by {relative:G3} relative, {maxAbs:G3} at most");
        }
        var (l1, l2) = (MpiPretrain.Losses(dir["one"]), MpiPretrain.Losses(dir["two"]));
        for (int i = 0; i < l1.Length; i++) Assert.True(Math.Abs(l1[i] - l2[i]) <= 1e-5 * Math.Abs(l1[i]), $"step {i + 1}: loss {l1[i]} vs {l2[i]}");
    }

    /// <summary>
    /// Causal LM on packed text: 2 ranks for 3 steps, then from that checkpoint 3 ranks, and 1 process, for 2 more.
    /// Each checkpoint's cursor must be what the data layer's rank streams give after exactly the blocks each rank
    /// trained on, combined (ElasticCursor.Combine): so every rank consumed its own shard, each block once, and the
    /// resumes at another world size continue from every rank's progress (the data layer's exactly-once rule).
    /// </summary>
    [ReferenceFact(ReferenceTool.Mpi)]
    public void Packed_text_cursors_of_2_ranks_resume_exactly_on_3_ranks_and_on_1()
    {
        ReferenceTools.Require(ReferenceTool.Mpi);
        using var dir = new TempDir();
        File.WriteAllText(dir["r.yaml"], ClmRecipe);
        var (code, output) = MpiPretrain.Run(2, dir.Path, "run", "r.yaml", "--run-dir", "two", "--no-export");
        Assert.True(code == 0, output);
        string from = Path.Combine(dir["two"], "checkpoints", "step-00000003");
        var files = Directory.GetFiles(Path.Combine(dir["two"], "data"), "*.parquet", SearchOption.AllDirectories).Order().ToList();
        var saved = Cursor(from);
        Assert.Equal(Expected(files, 2, null, 3 * 2).ToJson(), saved.ToJson());

        foreach (int world in new[] { 3, 1 })
        {
            string run = dir[$"w{world}"];
            (code, output) = MpiPretrain.Run(world, dir.Path, "run", "r.yaml", "--resume", from, "--run-dir", run, "--no-export", "--set", "train.max_steps=5");
            Assert.True(code == 0, output);
            Assert.Equal(Expected(files, world, saved, 2 * 2).ToJson(), Cursor(Path.Combine(run, "checkpoints", "step-00000005")).ToJson());
        }
    }

    /// <summary>
    /// Causal LM on packed text, end to end: every rank logs the blocks it trained on (PRETRAIN_TEST_BLOCK_LOG). The
    /// single-process token stream of the same data (one rank, world size 1) gives the documents in epoch order,
    /// D0, D1, …. On 2 ranks for 10 steps, rank r's tokens must be exactly Dr, Dr+2, Dr+4, … token for token (its shard),
    /// the last one possibly cut short. Resumed from that checkpoint on 3 ranks for 10 more steps: joining the pieces at
    /// document ends (EOS), each document cut by the resume is completed by the piece a new rank trained on; then no
    /// document is trained twice, every piece is a document of the single-process stream, and none is skipped (no
    /// untouched document precedes the last one every rank has reached).
    /// </summary>
    [ReferenceFact(ReferenceTool.Mpi)]
    public void Packed_text_each_rank_trains_on_its_shard_of_the_single_process_stream_and_each_token_once_across_a_resume_on_3_ranks()
    {
        ReferenceTools.Require(ReferenceTool.Mpi);
        using var dir = new TempDir();
        File.WriteAllText(dir["r.yaml"], ClmRecipe);
        var (code, output) = MpiPretrain.Run(2, dir.Path, Log(dir["log2"]), "run", "r.yaml", "--run-dir", "two", "--no-export", "--set", "train.max_steps=10");
        Assert.True(code == 0, output);
        string from = Path.Combine(dir["two"], "checkpoints", "step-00000010");
        (code, output) = MpiPretrain.Run(3, dir.Path, Log(dir["log3"]), "run", "r.yaml", "--resume", from, "--run-dir", "three", "--no-export", "--set", "train.max_steps=20");
        Assert.True(code == 0, output);

        var files = Directory.GetFiles(Path.Combine(dir["two"], "data"), "*.parquet", SearchOption.AllDirectories).Order().ToList();
        var tokenizer = TokenizerFactory.Create("byte", null, "<|endoftext|>");
        int eos = tokenizer.EosId;
        // The single-process stream: its first block whole, then each block's targets (block[1..]: stride seq_len).
        var single = new List<int>();
        using (var stream = new PackedTextStream(new PackedTextOptions { Files = files, BlockSize = 16, Seed = 1337 }, tokenizer))
        {
            while (single.Count(t => t == eos) < 40 && stream.TryNext(out var block, out _)) single.AddRange(single.Count == 0 ? block : block[1..]);
        }
        var docs = Split(single, eos).Take(40).Select(Key).ToList();   // the 40 rows of epoch 0, in order
        Assert.Equal(40, docs.Count);

        // 2 ranks: rank r's stream is exactly its shard Dr, Dr+2, … (fresh start: the first block's first token counts).
        var trailing = new List<string>();
        var trained = new List<string>();
        int reached2 = int.MaxValue;
        for (int r = 0; r < 2; r++)
        {
            var tokens = Blocks(dir["log2"], r).SelectMany((b, i) => i == 0 ? b : b[1..]).ToList();
            var pieces = Split(tokens, eos);
            string tail = Key(tokens.Skip(tokens.LastIndexOf(eos) + 1));
            for (int k = 0; k < pieces.Count; k++)
                Assert.True(pieces[k].Count > 0 && Key(pieces[k]) == docs[r + 2 * k], $"rank {r} of 2: document {k} is not D{r + 2 * k} of the single-process stream");
            Assert.True(tail.Length == 0 || docs[r + 2 * pieces.Count].StartsWith(tail + " ", StringComparison.Ordinal), $"rank {r} of 2: its last block does not continue D{r + 2 * pieces.Count}");
            trained.AddRange(pieces.Select(Key));
            if (tail.Length > 0) trailing.Add(tail);
            reached2 = Math.Min(reached2, r + 2 * pieces.Count);
        }
        Assert.True(trained.Count >= 2, "the 2-rank run should complete at least one document per rank");

        // 3 ranks from the checkpoint: new rank n got old rank n's pending tokens (n < 2), whose first token was that
        // rank's last target, so its first block's first token is dropped; rank 2 got none and starts at a document.
        var pieces3 = new List<(int Rank, string Doc)>();
        var inFlight = new List<(int Rank, string Head)>();
        for (int n = 0; n < 3; n++)
        {
            var tokens = Blocks(dir["log3"], n).SelectMany((b, i) => i == 0 && n >= 2 ? b : b[1..]).ToList();
            pieces3.AddRange(Split(tokens, eos).Select(d => (n, Key(d))));
            string tail = Key(tokens.Skip(tokens.LastIndexOf(eos) + 1));
            if (tail.Length > 0) inFlight.Add((n, tail));
        }
        var resumed = new List<(int Rank, string Doc)>();
        foreach (string cut in trailing)
        {
            // The piece that completes a document cut by the resume.
            int j = pieces3.FindIndex(p => docs.Contains(cut + " " + p.Doc));
            Assert.True(j >= 0, $"the document cut by the resume at '{cut}' is not completed by any rank of 3");
            resumed.Add((pieces3[j].Rank, cut + " " + pieces3[j].Doc));
            pieces3.RemoveAt(j);
        }
        resumed.AddRange(pieces3);
        Assert.True(resumed.Count >= 3, "the 3-rank run should complete documents");
        trained.AddRange(resumed.Select(p => p.Doc));
        var index = trained.Select(d => docs.IndexOf(d)).ToList();
        Assert.DoesNotContain(-1, index);                                                     // every piece is a whole document
        Assert.True(index.Count == index.Distinct().Count(), $"documents trained twice: {string.Join(", ", index.GroupBy(i => i).Where(g => g.Count() > 1).Select(g => $"D{g.Key}"))}");
        // The documents each new rank has reached (complete or in flight); ranks read in epoch order, so an untouched
        // document below the lowest of the ranks' last ones would have been skipped.
        var heads = inFlight.Select(f => (f.Rank, Index: docs.FindIndex(d => d.StartsWith(f.Head + " ", StringComparison.Ordinal)))).ToList();
        Assert.DoesNotContain(heads, h => h.Index < 0);
        var touched = index.Concat(heads.Select(h => h.Index)).ToHashSet();
        Assert.Equal(touched.Count, index.Count + heads.Count);                              // in-flight documents not also complete
        int reached = Enumerable.Range(0, 3).Min(n => resumed.Where(p => p.Rank == n).Select(p => docs.IndexOf(p.Doc))
            .Concat(heads.Where(h => h.Rank == n).Select(h => h.Index)).DefaultIfEmpty(-1).Max());
        var skipped = Enumerable.Range(0, Math.Max(reached, 0)).Where(i => !touched.Contains(i)).ToList();
        Assert.True(skipped.Count == 0, $"documents skipped: {string.Join(", ", skipped.Select(i => $"D{i}"))}");
        Assert.True(reached > reached2, $"the 3-rank run should go past the 2-rank run's documents (reached D{reached}, before D{reached2})");
    }

    private const string ClmRecipe = """
        name: dp-clm
        model: {arch: gpt2, max_seq_len: 16, embed_dim: 16, num_layers: 1, num_heads: 2, dropout: 0.0}
        tokenizer: {kind: byte}
        data:
          train: {synthetic: {kind: text, rows: 40, shards: 2, rows_per_group: 5, seed: 0}}
        optimizer: {lr: 1.0e-3}
        schedule: {kind: constant, warmup_steps: 0}
        train: {max_steps: 3, seq_len: 16, micro_batch_size: 2, threads: 1, log_every: 1, checkpoint_every: 3}
        """;

    private static Dictionary<string, string> Log(string dir) => new() { ["PRETRAIN_TEST_BLOCK_LOG"] = dir };

    /// <summary>The blocks rank <paramref name="rank"/> logged, in the order it trained on them.</summary>
    private static List<int[]> Blocks(string logDir, int rank) => [.. File.ReadAllLines(Path.Combine(logDir, $"rank-{rank}.txt"))
        .Select(l => l.Split(' ').Select(t => int.Parse(t, System.Globalization.CultureInfo.InvariantCulture)).ToArray())];

    /// <summary>The complete documents of a token stream: the pieces that end with EOS (EOS included).</summary>
    private static List<List<int>> Split(List<int> tokens, int eos)
    {
        var docs = new List<List<int>>();
        var current = new List<int>();
        foreach (int t in tokens)
        {
            current.Add(t);
            if (t == eos) { docs.Add(current); current = []; }
        }
        return docs;
    }

    private static string Key(IEnumerable<int> tokens) => string.Join(' ', tokens);

    /// <summary>
    /// SIGTERM to rank 1 alone (dropout 0.1): both ranks finish the same step, rank 0 writes one checkpoint, all exit 0;
    /// the resumed run ends bitwise where an uninterrupted one does.
    /// </summary>
    [ReferenceFact(ReferenceTool.Mpi)]
    public void Sigterm_to_one_rank_stops_every_rank_after_one_checkpoint_and_the_resume_matches_an_uninterrupted_run()
    {
        ReferenceTools.Require(ReferenceTool.Mpi);
        using var dir = new TempDir();
        // Dropout on: the resume is bitwise only if every rank gets its own generator state back (rank_rng_states).
        File.WriteAllText(dir["r.yaml"], Classify.Replace("max_steps: 4", "max_steps: 40").Replace("checkpoint_every: 4", "checkpoint_every: 100")
            .Replace("dropout: 0.0", "dropout: 0.1"));
        var (code, output) = MpiPretrain.Run(2, dir.Path, "run", "r.yaml", "--run-dir", "straight", "--no-export");
        Assert.True(code == 0, output);

        var lines = new ConcurrentQueue<string>();
        using (var mpirun = MpiPretrain.Start(2, dir.Path, lines, "run", "r.yaml", "--run-dir", "stopped", "--no-export"))
        {
            string metrics = Path.Combine(dir["stopped"], "metrics.jsonl");
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (DateTime.UtcNow < deadline && !mpirun.HasExited && (!File.Exists(metrics) || File.ReadAllLines(metrics).Length < 2))
                Thread.Sleep(50);
            int pid = MpiPretrain.RankPid(mpirun.Id, 1) ?? throw new Xunit.Sdk.XunitException("rank 1 not found:\n" + string.Join('\n', lines));
            Assert.Equal(0, Kill(pid, 15));
            if (!mpirun.WaitForExit(120_000)) mpirun.Kill(entireProcessTree: true);
            mpirun.WaitForExit();
            Assert.True(mpirun.ExitCode == 0, string.Join('\n', lines));
        }
        var steps = Directory.GetDirectories(Path.Combine(dir["stopped"], "checkpoints"), "step-*");
        Assert.Single(steps);
        long stoppedAt = long.Parse(Path.GetFileName(steps[0])["step-".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(stoppedAt, 2, 39);

        (code, output) = MpiPretrain.Run(2, dir.Path, "run", "r.yaml", "--run-dir", "stopped", "--resume", "auto", "--no-export");
        Assert.True(code == 0, output);
        foreach (var file in new[] { "model.safetensors", "optimizer.safetensors" })
            Assert.True(MpiPretrain.SameBytes(Step(dir["straight"], 40, file), Step(dir["stopped"], 40, file)), $"{file} differs from the uninterrupted run's (stopped at {stoppedAt})");
    }

    /// <summary>
    /// SIGTERM to a hand-started mpirun, with Open MPI's kill delay raised (`--mca odls_base_sigkill_timeout 10`): Open MPI
    /// sends the ranks SIGCONT at once, SIGTERM 10 s later and SIGKILL 10 s after that, and cannot forward SIGTERM
    /// otherwise. In those 10 s both ranks finish the same step, rank 0 writes one checkpoint and both exit 0 (read from
    /// their zombie status, since mpirun no longer waits for them); mpirun itself exits 1 whatever the ranks did. The
    /// resumed run ends bitwise where an uninterrupted one does (dropout 0.1: every rank's RNG restored). Few log
    /// lines (log_every 200): while mpirun sleeps out the timeout it relays no output, and a rank whose stdout (a pty)
    /// fills blocks in its write — with log_every 1 rank 0 did, and both ranks were SIGKILLed.
    /// </summary>
    [ReferenceFact(ReferenceTool.Mpi)]
    public void Sigterm_to_mpirun_with_a_longer_sigkill_timeout_lets_every_rank_checkpoint_once_and_exit_0()
    {
        ReferenceTools.Require(ReferenceTool.Mpi);
        using var dir = new TempDir();
        File.WriteAllText(dir["r.yaml"], Classify.Replace("max_steps: 4", "max_steps: 100000").Replace("checkpoint_every: 4", "checkpoint_every: 100000")
            .Replace("log_every: 1", "log_every: 200")
            .Replace("dropout: 0.0", "dropout: 0.1"));
        var lines = new ConcurrentQueue<string>();
        string Output() => string.Join('\n', lines);
        int mpirunCode;
        var status = new int?[2];
        using (var mpirun = MpiPretrain.Start(2, ["--mca", "odls_base_sigkill_timeout", "10"], dir.Path, lines, "run", "r.yaml", "--run-dir", "stopped", "--no-export"))
        {
            string metrics = Path.Combine(dir["stopped"], "metrics.jsonl");
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (DateTime.UtcNow < deadline && !mpirun.HasExited && (!File.Exists(metrics) || File.ReadAllLines(metrics).Length < 1))
                Thread.Sleep(50);
            int[] pids = [.. Enumerable.Range(0, 2).Select(r => MpiPretrain.RankPid(mpirun.Id, r) ?? throw new Xunit.Sdk.XunitException($"rank {r} not found:\n{Output()}"))];
            Assert.Equal(0, Kill(mpirun.Id, 15));
            // The ranks end as zombies (mpirun stopped waiting for them when it began the kill sequence): poll their status.
            deadline = DateTime.UtcNow.AddSeconds(120);
            while (!mpirun.HasExited && DateTime.UtcNow < deadline)
            {
                for (int r = 0; r < 2; r++) status[r] ??= MpiPretrain.ZombieStatus(pids[r]);
                Thread.Sleep(20);
            }
            if (!mpirun.HasExited) mpirun.Kill(entireProcessTree: true);
            mpirun.WaitForExit();
            mpirunCode = mpirun.ExitCode;
        }
        Assert.True(status[0] == 0 && status[1] == 0, $"rank exit statuses {status[0]}, {status[1]} (waitpid form; 9 = SIGKILL)\n{Output()}");
        Assert.True(mpirunCode == 1, $"mpirun exited {mpirunCode}, Open MPI 4.1 exits 1 after SIGTERM\n{Output()}");
        Assert.Equal(2, lines.Count(l => l.Contains("SIGTERM: finishing the current step and writing a checkpoint", StringComparison.Ordinal)));
        var steps = Directory.GetDirectories(Path.Combine(dir["stopped"], "checkpoints"), "step-*");
        Assert.True(steps.Length == 1, $"checkpoints: {string.Join(", ", steps.Select(Path.GetFileName))}\n{Output()}");
        long stoppedAt = long.Parse(Path.GetFileName(steps[0])["step-".Length..], System.Globalization.CultureInfo.InvariantCulture);

        // Two steps past the stop, straight and resumed (constant learning rate: max_steps changes nothing else).
        string end = $"train.max_steps={stoppedAt + 2}";
        var (code, output) = MpiPretrain.Run(2, dir.Path, "run", "r.yaml", "--run-dir", "straight", "--no-export", "--set", end);
        Assert.True(code == 0, output);
        (code, output) = MpiPretrain.Run(2, dir.Path, "run", "r.yaml", "--run-dir", "stopped", "--resume", "auto", "--no-export", "--set", end);
        Assert.True(code == 0, output);
        foreach (var file in new[] { "model.safetensors", "optimizer.safetensors" })
            Assert.True(MpiPretrain.SameBytes(Step(dir["straight"], stoppedAt + 2, file), Step(dir["stopped"], stoppedAt + 2, file)), $"{file} differs from the uninterrupted run's (stopped at {stoppedAt})");
    }

    private static string Step(string runDir, long step, string file) => Path.Combine(runDir, "checkpoints", $"step-{step:D8}", file);

    private static DataCursor Cursor(string stepDir) => DataCursor.FromJson(TrainerState.Load(Path.Combine(stepDir, "trainer_state.json")).Cursor.GetRawText());

    /// <summary>Every rank of <paramref name="world"/> reads <paramref name="blocks"/> blocks from <paramref name="from"/> (as the trainer's streams do); their cursors combined.</summary>
    private static DataCursor Expected(IReadOnlyList<string> files, int world, DataCursor? from, int blocks)
    {
        var tokenizer = TokenizerFactory.Create("byte", null, "<|endoftext|>");
        var cursors = new List<DataCursor>();
        for (int rank = 0; rank < world; rank++)
        {
            using var stream = new PackedTextStream(new PackedTextOptions { Files = files, BlockSize = 16, Seed = 1337, Rank = rank, WorldSize = world }, tokenizer, from);
            DataCursor cursor = from!;
            for (int i = 0; i < blocks; i++) Assert.True(stream.TryNext(out _, out cursor));
            cursors.Add(cursor);
        }
        return world == 1 ? cursors[0] : ElasticCursor.Combine(cursors);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
