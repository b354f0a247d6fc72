using Tandem.Engine.Sampling;
using Tandem.Serving.Instances;
using static Tandem.Serving.Tests.ServingTestKit;

namespace Tandem.Serving.Tests;

[Collection(SerialCollection.Name)]
public class CpuAffinityTests
{
    [Fact]
    public void PinsAThreadToAnAllowedCoreAndExplainsAnImpossibleOne()
    {
        var cores = CpuAffinity.AvailableCores();
        Assert.NotEmpty(cores);
        string? ok = "not run", bad = null;
        int[] pinnedTo = [], afterRefusal = [];
        // A thread of its own, so the test runner's threads keep their affinity.
        var t = new Thread(() =>
        {
            ok = CpuAffinity.TryPinCurrentThread(cores[^1]);
            if (OperatingSystem.IsLinux()) pinnedTo = ThreadAffinity.Of(0);
            bad = CpuAffinity.TryPinCurrentThread(5000);
            if (OperatingSystem.IsLinux()) afterRefusal = ThreadAffinity.Of(0);
        });
        t.Start();
        t.Join();
        if (OperatingSystem.IsLinux())
        {
            Assert.Null(ok);
            // The kernel holds the thread to that one core now, and a refused pin leaves it there.
            Assert.Equal([cores[^1]], pinnedTo);
            Assert.Equal([cores[^1]], afterRefusal);
        }
        else Assert.NotNull(ok);
        Assert.NotNull(bad);
    }

    [SkippableFact]
    public async Task AnInstancesLoopAndWorkerThreadsRunOnItsCores()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "thread pinning is implemented for Linux only");
        var cores = CpuAffinity.AvailableCores();
        // One colocated instance on two cores (the same one twice on a one-core machine), listed last first: its
        // loop thread is pinned to the first listed, its one team worker to the second.
        IReadOnlyList<int> instanceCores = [cores[^1], cores[0]];
        using var model = Load("stories260K.gguf");
        var before = ThreadAffinity.Threads();
        await using var engine = ServingRuntime.Start(Options(model, ServingMode.Colocated) with { InstanceCores = [instanceCores] });
        var r = await Collect(engine.Submit(new GenerationRequest { Id = "p", PromptTokens = [1, 403, 407], MaxTokens = 4, Sampling = SamplingParams.Greedy }));
        Assert.Equal(4, r.Outcome.CompletionTokens);

        // The runtime's threads are the new ones named tandem-*; each pins itself as it starts, so wait (hang-guarded)
        // until every one is held to a single core.
        Dictionary<int, string> ours = [];
        var until = DateTime.UtcNow + HangGuard;
        while (true)
        {
            ours = ThreadAffinity.Threads().Where(t => !before.ContainsKey(t.Key) && t.Value.StartsWith("tandem-", StringComparison.Ordinal))
                .ToDictionary(t => t.Key, t => t.Value);
            if (ours.Count == 2 && ours.Keys.All(tid => ThreadAffinity.Of(tid).Length == 1)) break;
            if (DateTime.UtcNow > until)
                Assert.Fail("the instance's threads were not pinned: " + string.Join("; ", ours.Select(t => $"{t.Value} ({t.Key}) on [{string.Join(",", ThreadAffinity.Of(t.Key))}]")));
            await Task.Delay(10);
        }
        int loop = Assert.Single(ours, t => t.Value == "tandem-colocate").Key; // "tandem-colocated-0", as the kernel cuts it
        Assert.Equal([instanceCores[0]], ThreadAffinity.Of(loop));
        int worker = Assert.Single(ours, t => t.Key != loop).Key;
        Assert.Equal([instanceCores[1]], ThreadAffinity.Of(worker));
    }

    [Fact]
    public async Task AnInstanceThatCannotBePinnedWarnsAndStillServes()
    {
        using var model = Load("stories260K.gguf");
        var warnings = new List<string>();
        // Core 1000 exists in the mask's range but not on this machine: the kernel refuses, the runtime warns.
        await using var engine = ServingRuntime.Start(Options(model, ServingMode.Disaggregated) with
        {
            InstanceCores = [[1000, 1001], [1000]],
            OnWarning = m => { lock (warnings) warnings.Add(m); },
        });
        var r = await Collect(engine.Submit(new GenerationRequest { Id = "p", PromptTokens = [1, 403, 407], MaxTokens = 8, Sampling = SamplingParams.Greedy }));
        Assert.Equal(8, r.Outcome.CompletionTokens);
        lock (warnings) Assert.Contains(warnings, w => w.Contains("not pinned to core 1000", StringComparison.Ordinal));
        Assert.Equal([1000, 1001], engine.Snapshot().Instances[0].Cores);
    }
}
