using Tandem.Engine.Generation;
using Tandem.Planning.Replanning;
using Tandem.Planning.Search;
using Tandem.Planning.Simulation;
using Tandem.Planning.Tests.Search;
using Tandem.Serving;

namespace Tandem.Planning.Tests.Replanning;

public class ReplannerTests
{
    // Planned for 1 req/s of 64-token prompts and 16-token answers on a 4-core machine of the CPU-like profile.
    private static readonly PlanFile Plan = ServingPlanTests.PlanOf(new PlannedPlacement
    {
        Mode = ServingMode.Colocated, Instances = new InstanceGroup(new ParallelConfig(1), 1, 1.5), Goodput = 1.5,
    }) with { Workload = "fixed:64:16", TargetRate = 1, DevicesPerNode = 4, SloTtftSeconds = 2, SloTpotSeconds = 0.1, RequestsPerProbe = 60 };

    private static readonly ReplanOptions Options = new() { WindowSeconds = 10, Threshold = 0.25, MinRequests = 5 };

    private static RequestOutcome Outcome(int prompt, int output) => new()
    {
        FinishReason = FinishReason.Length, PromptTokens = prompt, CompletionTokens = output,
        Timeline = new RequestTimeline { Arrival = 0, End = 0.5 },
    };

    /// <summary>Requests arriving every <paramref name="gap"/> seconds for one window, each seen when it finishes half a second later.</summary>
    private static void Feed(Replanner replanner, ManualTime time, double gap, int prompt, int output)
    {
        for (double t = 0; t < Options.WindowSeconds; t += gap)
        {
            time.Advance(gap);
            replanner.Observe(Outcome(prompt, output));
        }
    }

    [Fact]
    public async Task Traffic_like_the_plan_does_not_replan()
    {
        var time = new ManualTime();
        await using var replanner = new Replanner(Plan, SyntheticProfiles.Linear(), Options, time);
        Feed(replanner, time, gap: 1.0, prompt: 64, output: 16);
        await replanner.Check();
        var status = replanner.Status;
        Assert.Equal(0, status.Replans);
        Assert.NotNull(status.Observed);
        Assert.Equal(10, status.Observed.Requests);
        Assert.Null(status.Recommended);
        Assert.False(status.ChangeRecommended);
    }

    [Fact]
    public async Task A_drift_in_rate_and_prompt_length_replans_off_the_request_path_and_says_why()
    {
        var time = new ManualTime();
        var lines = new List<string>();
        await using var replanner = new Replanner(Plan, SyntheticProfiles.Linear(), Options, time, line => { lock (lines) lines.Add(line); });
        Feed(replanner, time, gap: 0.5, prompt: 96, output: 16); // 2 req/s of 96-token prompts
        await replanner.Check();

        var status = replanner.Status;
        Assert.Equal(1, status.Replans);
        // 19 of the 20 arrivals (0, 0.5, … 9.5 s) are in the window (0, 10]: 1.9 req/s.
        Assert.Contains("arrival rate 1.9 req/s is 90% above the 1 planned for", status.Reason);
        Assert.Contains("mean prompt 96 tokens is 50% above the 64 planned for", status.Reason);
        Assert.DoesNotContain("mean answer", status.Reason);
        Assert.NotNull(status.Recommended);
        Assert.True(status.Recommended.ReachesTargetRate, status.Reason);
        Assert.True(status.Recommended.Goodput >= 1.9);
        Assert.Equal(1.9, status.PlannedFor.Rate, 9); // the next drift is measured from what was planned now
        Assert.Single(lines, l => l.StartsWith("re-plan: "));

        // The same traffic again is what the new recommendation was made for: no second re-plan.
        Feed(replanner, time, gap: 0.5, prompt: 96, output: 16);
        await replanner.Check();
        Assert.Equal(1, replanner.Status.Replans);
    }

    [Fact]
    public void Drift_names_what_moved_past_the_threshold_either_way()
    {
        var planned = new ObservedWorkload(60, 100, 4, 512, 0.8, 256, 0.9);
        Assert.Null(Replanner.Drift(planned, planned with { Rate = 4.9, InputMean = 400 }, 0.25));
        Assert.Equal("mean answer 100 tokens is 61% below the 256 planned for", Replanner.Drift(planned, planned with { OutputMean = 100 }, 0.25));
    }

    [Fact]
    public async Task A_window_is_not_trusted_before_the_server_has_run_that_long()
    {
        var time = new ManualTime();
        await using var replanner = new Replanner(Plan, SyntheticProfiles.Linear(), Options, time);
        for (int i = 0; i < 9; i++) { time.Advance(0.5); replanner.Observe(Outcome(500, 16)); }
        await replanner.Check();
        Assert.Equal(0, replanner.Status.Replans);
        Assert.Null(replanner.Status.Observed);
    }
}
