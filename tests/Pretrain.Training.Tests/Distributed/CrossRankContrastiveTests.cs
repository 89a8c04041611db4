using Pretrain.Distributed;
using Pretrain.Training.Distributed;
using Pretrain.Training.Objectives;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests.Distributed;

/// <summary>
/// Contrastive losses over the global batch (CrossRankBatch): W simulated ranks of B rows each, run one after the
/// other in this process, give the loss values and the gradients of one process with W·B rows. The ranks' all-gathers
/// are recorded in a first pass and replayed in a second (each rank's gathered inputs do not depend on the others').
/// </summary>
[Collection("torch")]
public sealed class CrossRankContrastiveTests
{
    private const int World = 3, B = 4, D = 5;
    private const double Tau = 0.5;

    [Theory]
    [InlineData("ntxent")]
    [InlineData("infonce")]
    public void W_ranks_of_B_equal_one_process_of_W_times_B(string kind)
    {
        random.manual_seed(11);
        var v1 = randn(World * B, D, dtype: ScalarType.Float64);
        var v2 = randn(World * B, D, dtype: ScalarType.Float64);
        Tensor Loss(Tensor a, Tensor b, CrossRankBatch? ranks) =>
            kind == "ntxent" ? ContrastiveLoss.NtXent(a, b, Tau, ranks) : ContrastiveLoss.InfoNce(a, b, Tau, ranks);

        // One process, W·B rows.
        var (g1, g2) = (v1.clone().requires_grad_(), v2.clone().requires_grad_());
        var whole = Loss(g1, g2, null);
        whole.backward();

        // W ranks of B rows: record every rank's gathered inputs, then replay them so each rank sees all ranks' rows.
        var board = new List<Tensor?[]>();
        double sum = 0;
        var grads1 = new Tensor[World];
        var grads2 = new Tensor[World];
        var local1 = new Tensor[World];
        foreach (bool replay in new[] { false, true })
        {
            for (int r = 0; r < World; r++)
            {
                var a = v1.narrow(0, r * B, B).clone().requires_grad_();
                var b = v2.narrow(0, r * B, B).clone().requires_grad_();
                var loss = Loss(a, b, new CrossRankBatch(new ReplayRanks(r, board, replay)));
                if (!replay) continue;
                loss.backward();
                sum += loss.item<double>();
                (grads1[r], grads2[r]) = (a.grad!, b.grad!);
                var (la, lb) = (v1.narrow(0, r * B, B).clone().requires_grad_(), v2.narrow(0, r * B, B).clone().requires_grad_());
                Loss(la, lb, null).backward();   // the same rank without the other ranks' negatives
                local1[r] = la.grad!;
            }
        }

        Assert.Equal(whole.item<double>(), sum, 1e-9);   // the ranks' values sum to the global loss
        Assert.True(allclose(cat(grads1, 0), g1.grad!, rtol: 1e-9, atol: 1e-12), "view-1 gradients differ from one process's");
        Assert.True(allclose(cat(grads2, 0), g2.grad!, rtol: 1e-9, atol: 1e-12), "view-2 gradients differ from one process's");
        Assert.False(allclose(cat(local1, 0), g1.grad!, rtol: 1e-3, atol: 1e-6), "local negatives alone should not give the global gradient");
    }

    /// <summary>Rank r of <see cref="World"/> whose all-gathers are recorded (first pass) or replayed from every rank's record.</summary>
    private sealed class ReplayRanks(int rank, List<Tensor?[]> board, bool replay) : ICollectives
    {
        private int _call;
        public int Rank => rank;
        public int WorldSize => World;
        public int LocalRank => rank;
        public string Backend => "replay";

        public Tensor AllGather(Tensor tensor)
        {
            int k = _call++;
            if (replay) return stack(board[k]!.Select(t => t!).ToArray());
            while (board.Count <= k) board.Add(new Tensor?[World]);
            board[k][rank] = tensor.clone();
            return stack(Enumerable.Repeat(tensor, World).ToArray());
        }

        public void AllReduce(Tensor tensor, ReduceOp op = ReduceOp.Sum) => throw new NotSupportedException();
        public void Broadcast(Tensor tensor, int root = 0) => throw new NotSupportedException();
        public byte[][] AllGatherBytes(ReadOnlySpan<byte> mine) => throw new NotSupportedException();
        public byte[] BroadcastBytes(ReadOnlySpan<byte> data, int root = 0) => throw new NotSupportedException();
        public void Barrier() => throw new NotSupportedException();
        public void Dispose() { }
    }
}
