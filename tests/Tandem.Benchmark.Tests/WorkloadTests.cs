using Tandem.Benchmark.Workloads;

namespace Tandem.Benchmark.Tests;

public class WorkloadTests
{
    [Fact]
    public void FixedWorkloadHasExactLengthsAsTextOrTokenIds()
    {
        var spec = WorkloadSpec.Preset("fixed", inputLength: 12, outputLength: 7);
        var text = WorkloadGenerator.Generate(spec, 20, seed: 1);
        Assert.All(text, r =>
        {
            Assert.Equal(12, r.PromptTokens);
            Assert.Equal(7, r.OutputTokens);
            Assert.Equal(12, r.Prompt!.Split(' ').Length);
            Assert.Null(r.PromptTokenIds);
        });
        Assert.Equal(20, text.Select(r => r.Prompt).Distinct().Count()); // no shared prompts for a prefix cache to exploit

        var ids = WorkloadGenerator.Generate(spec, 5, seed: 1, PromptFormat.TokenIds);
        Assert.All(ids, r =>
        {
            Assert.Equal(12, r.PromptTokenIds!.Length);
            Assert.All(r.PromptTokenIds, id => Assert.InRange(id, PromptBuilder.DefaultTokenIdMin, PromptBuilder.DefaultTokenIdMax - 1));
        });
    }

    [Theory]
    [InlineData("chatbot")]
    [InlineData("code")]
    [InlineData("summarization")]
    public void PresetsHaveTheirMeansAndRespectTheContextCap(string name)
    {
        var spec = WorkloadSpec.Preset(name);
        var requests = WorkloadGenerator.Generate(spec, 600, seed: 5);
        Assert.InRange(requests.Average(r => r.PromptTokens), spec.Input.Mean * 0.85, spec.Input.Mean * 1.15);
        Assert.InRange(requests.Average(r => r.OutputTokens), spec.Output.Mean * 0.85, spec.Output.Mean * 1.15);

        var capped = WorkloadGenerator.Generate(WorkloadSpec.Preset(name, maxModelLength: 400), 300, seed: 5);
        Assert.All(capped, r => Assert.True(r.PromptTokens + r.OutputTokens <= 400 && r.PromptTokens >= 1 && r.OutputTokens >= 1));
    }

    [Fact]
    public void ShapesDifferAsTheDatasetsDo()
    {
        var chat = WorkloadSpec.Preset("chatbot");
        var code = WorkloadSpec.Preset("code");
        var sum = WorkloadSpec.Preset("summarization");
        Assert.True(sum.Input.Mean > chat.Input.Mean && chat.Input.Mean > code.Input.Mean);
        Assert.True(chat.Output.Mean > code.Output.Mean && chat.Output.Mean > sum.Output.Mean);
        Assert.Throws<ArgumentException>(() => WorkloadSpec.Preset("nope"));
    }

    [Fact]
    public void SameSeedSameWorkload()
    {
        var spec = WorkloadSpec.Preset("chatbot", 100, 50);
        Assert.Equal(WorkloadGenerator.Generate(spec, 10, 9).Select(r => (r.Prompt, r.OutputTokens)),
            WorkloadGenerator.Generate(spec, 10, 9).Select(r => (r.Prompt, r.OutputTokens)));
    }

    [Fact]
    public void ReadsJsonLinesAndShareGpt()
    {
        string dir = TestPaths.NewTempDir();
        string jsonl = Path.Combine(dir, "w.jsonl");
        File.WriteAllLines(jsonl, ["{\"prompt\": \"hello there\", \"output_len\": 5}", "", "{\"prompt\": \"abcdefgh\", \"max_tokens\": 3}"]);
        var a = DatasetWorkload.Load(jsonl, 4, seed: 0);
        Assert.Equal(4, a.Count);
        Assert.Equal(2, a.Select(r => r.Prompt).Distinct().Count());
        Assert.Contains(a, r => r.Prompt == "abcdefgh" && r.OutputTokens == 3 && r.PromptTokens == 2);
        Assert.Equal([0, 1, 2, 3], a.Select(r => r.Index));

        string share = Path.Combine(dir, "sharegpt.json");
        File.WriteAllText(share, """
            [{"id": "1", "conversations": [{"from": "human", "value": "What is a cat?"}, {"from": "gpt", "value": "A cat is a small animal that purrs."}]},
             {"id": "2", "conversations": [{"from": "human", "value": "no answer"}]}]
            """);
        var b = DatasetWorkload.Load(share, 2, seed: 0, fixedOutputLength: null);
        Assert.All(b, r => Assert.Equal("What is a cat?", r.Prompt));
        Assert.All(b, r => Assert.Equal(DatasetWorkload.EstimateTokens("A cat is a small animal that purrs."), r.OutputTokens));
        Assert.All(DatasetWorkload.Load(share, 2, 0, fixedOutputLength: 9), r => Assert.Equal(9, r.OutputTokens));
        Assert.Throws<ArgumentException>(() => DatasetWorkload.Load(share, 2, 0, maxModelLength: 5));
    }

    [Fact]
    public void FixedColonInColonOutSetsBothLengths()
    {
        var spec = WorkloadSpec.Preset("fixed:128:32");
        Assert.Equal("fixed", spec.Name);
        var requests = WorkloadGenerator.Generate(spec, 5, seed: 2, PromptFormat.TokenIds);
        Assert.All(requests, r =>
        {
            Assert.Equal(128, r.PromptTokenIds!.Length);
            Assert.Equal(32, r.OutputTokens);
        });
        Assert.Equal(WorkloadGenerator.Generate(WorkloadSpec.Preset("fixed", 128, 32), 5, 2, PromptFormat.TokenIds).Select(r => r.PromptTokenIds),
            requests.Select(r => r.PromptTokenIds));
        Assert.Equal((9, 1), WorkloadSpec.ParseFixed("FIXED:9:1"));
        Assert.Null(WorkloadSpec.ParseFixed("fixed"));

        foreach (string bad in (string[])["fixed:128", "fixed:0:3", "fixed:3:-1", "fixed:a:b", "fixed:1:2:3", "fixed:1.5:2"])
            Assert.Throws<ArgumentException>(() => WorkloadSpec.Preset(bad));
        Assert.Throws<ArgumentException>(() => WorkloadSpec.Preset("fixed:8:4", inputLength: 8));
        Assert.Throws<ArgumentException>(() => WorkloadSpec.Preset("fixed:8:4", maxModelLength: 10));
    }
}
