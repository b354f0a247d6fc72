using Tandem.Engine.Sampling;
using Tandem.Serving.Instances;
using static Tandem.Serving.Tests.ServingTestKit;

namespace Tandem.Serving.Tests;

public class CpuAffinityTests
{
    [Fact]
    public void PinsAThreadToAnAllowedCoreAndExplainsAnImpossibleOne()
    {
        var cores = CpuAffinity.AvailableCores();
        Assert.NotEmpty(cores);
        string? ok = "not run", bad = null;
        // A thread of its own, so the test runner's threads keep their affinity.
        var t = new Thread(() =>
        {
            ok = CpuAffinity.TryPinCurrentThread(cores[^1]);
            bad = CpuAffinity.TryPinCurrentThread(5000);
        });
        t.Start();
        t.Join();
        if (OperatingSystem.IsLinux()) Assert.Null(ok);
        else Assert.NotNull(ok);
        Assert.NotNull(bad);
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
