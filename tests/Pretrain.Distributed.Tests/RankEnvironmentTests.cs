namespace Pretrain.Distributed.Tests;

public sealed class RankEnvironmentTests
{
    private static RankEnvironment Detect(params (string Key, string Value)[] variables)
    {
        var map = variables.ToDictionary(v => v.Key, v => v.Value);
        return RankEnvironment.Detect(name => map.GetValueOrDefault(name));
    }

    [Fact]
    public void No_launcher_is_one_process() => Assert.Equal(RankEnvironment.Single, Detect());

    [Fact]
    public void Open_mpi_variables_give_rank_world_and_local_rank() =>
        Assert.Equal(new RankEnvironment(3, 4, 1, 2, "mpirun"), Detect(("OMPI_COMM_WORLD_RANK", "3"), ("OMPI_COMM_WORLD_SIZE", "4"),
            ("OMPI_COMM_WORLD_LOCAL_RANK", "1"), ("OMPI_COMM_WORLD_LOCAL_SIZE", "2"), ("PMIX_RANK", "3"), ("SLURM_PROCID", "0")));

    [Fact]
    public void Pmi_variables_are_read_when_open_mpi_is_not_the_launcher() =>
        Assert.Equal(new RankEnvironment(1, 2, 1, 2, "pmi"), Detect(("PMI_RANK", "1"), ("PMI_SIZE", "2"), ("MPI_LOCALRANKID", "1"), ("MPI_LOCALNRANKS", "2")));

    [Fact]
    public void Srun_step_variables_give_the_ranks_and_the_tasks_on_this_node() =>
        Assert.Equal(new RankEnvironment(5, 6, 1, 2, "srun"), Detect(("SLURM_STEP_ID", "0"), ("SLURM_PROCID", "5"), ("SLURM_STEP_NUM_TASKS", "6"),
            ("SLURM_NTASKS", "6"), ("SLURM_LOCALID", "1"), ("SLURM_NODEID", "2"), ("SLURM_STEP_TASKS_PER_NODE", "2(x3)")));

    [Fact]
    public void The_batch_script_outside_a_step_is_one_process_even_with_several_tasks() =>
        Assert.Equal(RankEnvironment.Single, Detect(("SLURM_JOB_ID", "12"), ("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2"), ("SLURM_TASKS_PER_NODE", "2")));

    [Fact]
    public void An_inconsistent_or_unparsable_environment_is_an_error_naming_the_variable()
    {
        var bad = Assert.Throws<CollectiveException>(() => Detect(("OMPI_COMM_WORLD_RANK", "two"), ("OMPI_COMM_WORLD_SIZE", "4")));
        Assert.Contains("OMPI_COMM_WORLD_RANK='two'", bad.Message);
        var inconsistent = Assert.Throws<CollectiveException>(() => Detect(("OMPI_COMM_WORLD_RANK", "4"), ("OMPI_COMM_WORLD_SIZE", "4")));
        Assert.Contains("rank 4, world size 4", inconsistent.Message);
    }

    [Theory]
    [InlineData("2(x3),1", 0, 2)]
    [InlineData("2(x3),1", 2, 2)]
    [InlineData("2(x3),1", 3, 1)]
    [InlineData("4", 0, 4)]
    [InlineData("1,3", 1, 3)]
    public void Slurm_tasks_per_node_lists_are_expanded(string perNode, int node, int tasks) =>
        Assert.Equal(tasks, RankEnvironment.TasksOnNode(perNode, node));

    [Theory]
    [InlineData("2(x3),1", 4)]
    [InlineData("2(3)", 0)]
    [InlineData("", 0)]
    public void Slurm_tasks_per_node_beyond_the_list_or_malformed_is_unknown(string perNode, int node) =>
        Assert.Null(RankEnvironment.TasksOnNode(perNode, node));

    [Fact]
    public void Without_a_launcher_the_backend_is_the_single_process_one()
    {
        if (RankEnvironment.Detect().WorldSize > 1) return; // this test process was itself started by a launcher
        Assert.Same(SingleProcess.Instance, Collectives.FromEnvironment(CollectiveOptions.Default));
    }
}
