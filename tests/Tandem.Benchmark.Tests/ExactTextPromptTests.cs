using Tandem.Benchmark.Workloads;

namespace Tandem.Benchmark.Tests;

/// <summary>Text prompts of exact token lengths, checked with the model's own tokenizer (BPE and SentencePiece).</summary>
public class ExactTextPromptTests
{
    public static TheoryData<string> Vocabularies => new()
    {
        TestPaths.Vocab("ggml-vocab-gpt-2.gguf"),
        TestPaths.Model("stories260K.gguf"),
    };

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void PromptsEncodeToExactlyTheRequestedLength(string path)
    {
        var builder = ExactTextPromptBuilder.FromGguf(path);
        var rng = new Random(7);
        foreach (int tokens in (int[])[1, 2, 3, 5, 8, 13, 31, 64, 127, 300, 1000])
        {
            for (int k = 0; k < 3; k++)
            {
                string prompt = builder.Text(rng, tokens);
                var ids = builder.Tokenizer.Encode(prompt, addBos: false);
                Assert.True(ids.Length == tokens, $"{Path.GetFileName(path)}: wanted {tokens} tokens, '{prompt}' has {ids.Length}");
                // With BOS the server sees one more; the prompt itself is what was asked for.
                Assert.True(builder.Tokenizer.Encode(prompt, addBos: true).Length >= tokens);
                Assert.Equal(prompt, prompt.Trim());
            }
        }
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void WorkloadsAndTracesUseTheTokenizer(string path)
    {
        var builder = ExactTextPromptBuilder.FromGguf(path);
        var requests = WorkloadGenerator.Generate(WorkloadSpec.Preset("code", maxModelLength: 500), 20, seed: 3, exactText: builder);
        Assert.All(requests, r => Assert.Equal(r.PromptTokens, builder.Count(r.Prompt!)));
        Assert.Equal(20, requests.Select(r => r.Prompt).Distinct().Count());
        // Same seed, same prompts.
        Assert.Equal(requests.Select(r => r.Prompt), WorkloadGenerator.Generate(WorkloadSpec.Preset("code", maxModelLength: 500), 20, seed: 3, exactText: builder).Select(r => r.Prompt));

        string trace = Path.Combine(TestPaths.NewTempDir(), "t.jsonl");
        File.WriteAllLines(trace, ["{\"input_len\": 17, \"output_len\": 2}", "{\"input_len\": 256, \"output_len\": 2}"]);
        var options = new ServeBenchmarkOptions { BaseUrl = new Uri("http://127.0.0.1:9"), Trace = trace, Tokenizer = path };
        Assert.Equal([17, 256], ServeBenchmark.BuildWorkload(options).Select(r => builder.Count(r.Prompt!)));
    }

    [Fact]
    public void MissingOrNonGgufTokenizerIsAUsageError()
    {
        var options = new ServeBenchmarkOptions { BaseUrl = new Uri("http://127.0.0.1:9"), Tokenizer = "/nonexistent/x.gguf" };
        Assert.Contains("/nonexistent/x.gguf", Assert.Throws<ArgumentException>(() => ServeBenchmark.BuildWorkload(options)).Message);
        string notGguf = Path.Combine(TestPaths.NewTempDir(), "x.gguf");
        File.WriteAllText(notGguf, "hello");
        Assert.Contains("--tokenizer", Assert.Throws<ArgumentException>(() => ServeBenchmark.BuildWorkload(options with { Tokenizer = notGguf })).Message);
    }
}
