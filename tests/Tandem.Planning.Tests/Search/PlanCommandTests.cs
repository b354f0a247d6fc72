using Tandem.Engine.Tests;
using Tandem.Cli;
using Tandem.Planning.Profiles;
using Tandem.Planning.Search;

namespace Tandem.Planning.Tests.Search;

/// <summary><c>tandem plan</c> end to end: a profile file in, the table and plan.json out; bad options are one error line.</summary>
public class PlanCommandTests
{
    private static string A100 => Path.Combine(TestPaths.RepoRoot, "..", "shared", "data", "distserve-a100", "profiler-a100-80g.distserve.json");

    [Fact]
    public void Plans_a_cpu_profile_prints_the_choice_and_writes_a_plan_serve_can_read()
    {
        string dir = TestPaths.NewTempDir();
        string profile = Path.Combine(dir, "profile.json");
        LatencyProfileJson.Write(profile, SyntheticProfiles.Linear());
        string planPath = Path.Combine(dir, "plan.json");

        var (code, output, error) = Run(["plan", "--profile", profile, "--workload", "fixed:64:16", "--slo-ttft", "2", "--slo-tpot", "0.1",
            "--devices-per-node", "2", "--rate", "1", "--requests", "60", "--precision", "0.1", "--check", "1", "--out", planPath]);

        Assert.True(code == 0, error);
        Assert.Contains("chosen: ", output);
        Assert.Contains("best disaggregated", output);
        Assert.Contains("best colocated", output);
        Assert.Contains("goodput searches", error);
        var plan = PlanFileJson.Read(planPath);
        Assert.Equal("cpu", plan.DeviceKind);
        Assert.NotNull(plan.Chosen);
        Assert.True(plan.Chosen.ReachesTargetRate);
        Assert.True(plan.Chosen.Devices <= 2);
        Assert.NotNull(plan.Chosen.SimulatedGoodput);
        Assert.Contains(plan.Chosen.Describe(), output);
    }

    [Fact]
    public void Plans_a_distserve_gpu_profile_and_serve_refuses_the_plan()
    {
        string dir = TestPaths.NewTempDir();
        string planPath = Path.Combine(dir, "plan.json");
        var (code, output, error) = Run(["plan", "--profile", A100, "--model-name", "opt-13b", "--workload", "code", "--slo-ttft", "0.25", "--slo-tpot", "0.1",
            "--devices-per-node", "2", "--requests", "60", "--check", "0", "--top", "2", "--out", planPath]);
        Assert.True(code == 0, error);
        Assert.Contains("GPUs", output);
        var plan = PlanFileJson.Read(planPath);
        Assert.Equal("gpu", plan.DeviceKind);
        Assert.Equal("facebook/opt-13b", plan.Model);
        Assert.Equal(2, plan.RunnersUp.Count);

        var (serveCode, serveOut, serveError) = Run(["serve", "--model", TestPaths.Model("stories260K.gguf"), "--plan", planPath]);
        Assert.Equal(1, serveCode);
        Assert.StartsWith("error: ", serveError);
        Assert.Contains("tandem serve runs on this machine's CPU cores", serveError);
        Assert.Equal("", serveOut);
    }

    [Theory]
    [InlineData("--nodes 0", "--nodes must be at least 1")]
    [InlineData("--attainment 1.5", "--attainment must be in (0, 1]")]
    [InlineData("--rate -1", "--rate must be a positive number")]
    [InlineData("--workload nope", "unknown workload 'nope'")]
    [InlineData("--inter-bandwidth 0", "--inter-bandwidth must be positive, got 0 GB/s")]
    public void Bad_options_fail_with_one_error_line(string arguments, string expected)
    {
        var (code, output, error) = Run(["plan", "--profile", A100, "--model-name", "opt-13b", "--slo-ttft", "0.25", "--slo-tpot", "0.1", "--devices-per-node", "2", .. arguments.Split(' ')]);
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", error);
        Assert.Contains(expected, error);
        Assert.DoesNotContain("\n", error.TrimEnd());
        Assert.Equal("", output);
    }

    [Theory]
    [InlineData("--plan plan.json --mode colocated", "--plan sets the placement: drop --mode")]
    [InlineData("--replan-window 30", "--replan-window needs --plan")]
    [InlineData("--plan plan.json --replan-threshold 0", "--replan-threshold must be a positive fraction")]
    public void Serve_refuses_plan_options_that_cannot_work(string arguments, string expected)
    {
        var (code, _, error) = Run(["serve", "--model", TestPaths.Model("stories260K.gguf"), .. arguments.Split(' ')]);
        Assert.Equal(1, code);
        Assert.Contains(expected, error);
    }

    private static (int Code, string Out, string Error) Run(string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = TandemApp.Run(args, new CliConsole(output, error));
        return (code, output.ToString(), error.ToString());
    }
}
