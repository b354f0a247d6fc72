using Tandem.Benchmark.Arrivals;
using Tandem.Benchmark.Workloads;
using Tandem.Planning.Simulation;

namespace Tandem.Planning.Tests;

/// <summary>
/// DistServe's queueing check (paper §3.1): one prefill instance, a constant prefill time D per request, Poisson
/// arrivals at rate R: the mean TTFT must be the M/D/1 mean response time D + R·D²/(2(1 − R·D)).
/// Near saturation the sample mean converges slowly (at ρ = 0.9 its standard error is still about 3% after 10⁵
/// requests), so the check is in two exact-or-cheap parts: the simulator's TTFT equals, request by request, the FCFS
/// single-server queue's (Lindley's recursion) on the same arrivals at every utilisation; and that queue's mean, over
/// enough requests to make the statistic tight, is the formula's within 3%. Where the simulator alone is cheap enough
/// for a tight statistic (ρ ≤ 0.5) its own mean is checked against the formula too.
/// </summary>
public class MD1AgreementTests
{
    private const double D = 0.1;

    private static double[] SimulatedTtfts(double rate, int requests, int seed)
    {
        // One request per step (the token target is one prompt) and an answer of one token: TTFT is the time in system.
        // Local prefill off: every prompt queues at the one prefill instance (DistServe's model).
        var placement = new Placement { PrefillTokenTarget = 16, KvBlocksPerInstance = 1 << 20, LocalPrefillThreshold = 0 };
        var work = new BenchRequest[requests];
        for (int i = 0; i < requests; i++) work[i] = new BenchRequest(i, null, null, 16, 1);
        var arrivals = new ArrivalProcess(rate).ArrivalTimes(requests, seed);
        var result = ServingSimulator.Simulate(placement, SyntheticProfiles.Constant(D), work, arrivals);
        return result.Records.Select(r => r.FirstTokenAt!.Value - r.ScheduledAt).ToArray();
    }

    /// <summary>Time in system of each request of an FCFS single server with constant service D (Lindley's recursion).</summary>
    private static double[] LindleyResponses(double[] arrivals)
    {
        var response = new double[arrivals.Length];
        double free = 0;
        for (int i = 0; i < arrivals.Length; i++)
        {
            double start = Math.Max(free, arrivals[i]);
            free = start + D;
            response[i] = free - arrivals[i];
        }
        return response;
    }

    [Theory]
    [InlineData(0.2)]
    [InlineData(0.5)]
    [InlineData(0.7)]
    [InlineData(0.9)]
    public void Simulated_ttft_is_the_fcfs_queue_s_request_by_request(double utilisation)
    {
        double rate = utilisation / D;
        const int n = 20_000;
        var simulated = SimulatedTtfts(rate, n, seed: 11);
        var exact = LindleyResponses(new ArrivalProcess(rate).ArrivalTimes(n, 11));
        for (int i = 0; i < n; i++) Assert.Equal(exact[i], simulated[i], 9);
    }

    [Theory]
    [InlineData(0.2)]
    [InlineData(0.5)]
    [InlineData(0.7)]
    [InlineData(0.8)]
    [InlineData(0.9)]
    public void Fcfs_queue_mean_on_the_bench_s_poisson_arrivals_is_md1_within_3_percent(double utilisation)
    {
        double rate = utilisation / D;
        double mean = LindleyResponses(new ArrivalProcess(rate).ArrivalTimes(4_000_000, 5)).Average();
        Assert.InRange(mean / MD1Queue.MeanResponseSeconds(rate, D), 0.97, 1.03);
    }

    [Theory]
    [InlineData(0.2)]
    [InlineData(0.5)]
    public void Simulated_mean_ttft_is_md1_within_3_percent(double utilisation)
    {
        double rate = utilisation / D;
        double mean = SimulatedTtfts(rate, 20_000, seed: 11).Average();
        Assert.InRange(mean / MD1Queue.MeanResponseSeconds(rate, D), 0.97, 1.03);
    }
}
