using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tandem.Server.Tests;

/// <summary>The prefix cache as API clients see it: OpenAI's usage.prompt_tokens_details.cached_tokens and vLLM's metrics.</summary>
public sealed class PrefixCacheApiTests
{
    private const string History = "Once upon a time, there was a little girl named Lily. She liked to play in the park with her friends every day.";

    /// <summary>
    /// Colocated, and disaggregated with the default local prefill threshold, where these short prompts are prefilled
    /// on the decode instance (no prefill instance, no transfer): the counts are the same, each prompt looked up once.
    /// </summary>
    [Theory]
    [InlineData("colocated")]
    [InlineData("disaggregated")]
    public async Task Usage_reports_cached_prompt_tokens_and_metrics_count_queries_and_hits(string mode)
    {
        await using var server = await RunningServer.StartAsync(mode);
        var first = await server.Http.PostAsync("/v1/completions", ApiCalls.Completion(History, 8));
        Assert.Equal(HttpStatusCode.OK, first.Status);
        var firstUsage = first.Body.GetProperty("usage");
        int promptTokens = firstUsage.GetProperty("prompt_tokens").GetInt32();
        Assert.Equal(0, firstUsage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32()); // present, nothing cached yet

        // The next turn resends the history: its whole blocks come from the cache, and the text is what it would be anyway.
        var next = await server.Http.PostAsync("/v1/completions", ApiCalls.Completion(History + " One day", 8));
        int nextPromptTokens = next.Body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        int cached = next.Body.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        Assert.InRange(cached, 16, promptTokens);
        Assert.Equal(0, cached % 16);

        // Streamed usage carries it too.
        var request = ApiCalls.Completion(History + " One day", 8);
        request["stream"] = true;
        request["stream_options"] = new JsonObject { ["include_usage"] = true };
        var chunks = await server.Http.StreamAsync("/v1/completions", request);
        var usage = JsonDocument.Parse(chunks[^2]).RootElement.GetProperty("usage");
        int streamedCached = usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        Assert.True(streamedCached >= cached);

        // Exact: each prompt is looked up once, where it is prefilled, and its cached tokens are the hits.
        string text = await server.Http.GetStringAsync("/metrics");
        double queries = Value(text, "vllm:prefix_cache_queries_total{model_name=\"stories260K\"}");
        double hits = Value(text, "vllm:prefix_cache_hits_total{model_name=\"stories260K\"}");
        Assert.Equal(cached + streamedCached, hits);
        Assert.Equal(promptTokens + 2 * nextPromptTokens, queries);
    }

    private static double Value(string exposition, string series)
    {
        string line = exposition.Split('\n').Single(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }
}
