using Tandem.Benchmark.Workloads;

namespace Tandem.Benchmark.Tests;

/// <summary>Every run and the warm-up get prompts of their own, of the workload's lengths, reproducible from the seed.</summary>
public class RunPromptsTests
{
    private const int Runs = 4;

    [Theory]
    [InlineData(PromptFormat.Text)]
    [InlineData(PromptFormat.TokenIds)]
    public void EachRunHasItsOwnPromptsOfTheWorkloadsLengths(PromptFormat format)
    {
        var workload = WorkloadGenerator.Generate(WorkloadSpec.Preset("chatbot", 40, 8), 12, seed: 3, format);
        var prompts = new RunPrompts(workload, 3, format);

        Assert.Same(workload, prompts.ForRun(0)); // the first run sends the workload as drawn
        var runs = Enumerable.Range(0, Runs).Select(prompts.ForRun).ToList();
        foreach (var run in runs)
        {
            Assert.Equal(workload.Select(r => (r.Index, r.PromptTokens, r.OutputTokens)), run.Select(r => (r.Index, r.PromptTokens, r.OutputTokens)));
            Assert.Equal(workload.Select(r => r.PromptTokens), run.Select(r => Length(r)));
        }
        var all = runs.SelectMany(run => run.Select(Key)).ToList();
        Assert.Equal(all.Count, all.Distinct().Count()); // no prompt is sent twice, within a run or across runs

        var again = new RunPrompts(WorkloadGenerator.Generate(WorkloadSpec.Preset("chatbot", 40, 8), 12, seed: 3, format), 3, format);
        for (int k = 0; k < Runs; k++)
            Assert.Equal(runs[k].Select(Key), again.ForRun(k).Select(Key));
        var otherSeed = new RunPrompts(workload, 4, format);
        Assert.Empty(otherSeed.ForRun(1).Select(Key).Intersect(runs[1].Select(Key)));
    }

    [Fact]
    public void TracePromptsAreRedrawnAtTheTracesLengths()
    {
        var trace = new RequestTrace("t.jsonl", [new TraceEntry(1, 6, 2, 0), new TraceEntry(2, 9, 3, 0.5), new TraceEntry(3, 4, 1, 0.7)]);
        var requests = TraceWorkload.Requests(trace, 3, seed: 1);
        var prompts = new RunPrompts(requests, 1);
        Assert.Equal([6, 9, 4], prompts.ForRun(2).Select(Length));
        Assert.Empty(prompts.ForRun(2).Select(Key).Intersect(requests.Select(Key)));
    }

    [Fact]
    public void WarmupPromptsAreNeverMeasuredOnes()
    {
        var workload = WorkloadGenerator.Generate(WorkloadSpec.Preset("fixed", 16, 4), 5, seed: 0);
        var prompts = new RunPrompts(workload, 0);
        var warmups = Enumerable.Range(0, 7).Select(prompts.Warmup).ToList();
        var measured = Enumerable.Range(0, Runs).SelectMany(prompts.ForRun).Select(Key).ToHashSet();

        Assert.All(warmups, w => Assert.DoesNotContain(Key(w), measured));
        Assert.Equal(warmups.Count, warmups.Select(Key).Distinct().Count());
        Assert.All(warmups, w => Assert.Equal((16, 4), (Length(w), w.OutputTokens)));
        Assert.Equal(warmups.Select(Key), Enumerable.Range(0, 7).Select(new RunPrompts(workload, 0).Warmup).Select(Key));
    }

    [Fact]
    public void DatasetPromptsAreSentAsTheyAreButTheWarmupIsNotOneOfThem()
    {
        BenchRequest[] dataset = [new(0, "Tell me a story about a cat.", null, 7, 5), new(1, "Why is the sky blue?", null, 5, 5)];
        var prompts = new RunPrompts(dataset, 0, redraw: false);
        Assert.False(prompts.RedrawsPerRun);
        Assert.Same(dataset, prompts.ForRun(3));
        Assert.DoesNotContain(prompts.Warmup(0).Prompt, dataset.Select(r => r.Prompt));
        Assert.Equal(7, Length(prompts.Warmup(0)));
    }

    private static string Key(BenchRequest r) => r.Prompt ?? string.Join(',', r.PromptTokenIds!);

    private static int Length(BenchRequest r) => r.PromptTokenIds?.Length ?? r.Prompt!.Split(' ').Length;
}
