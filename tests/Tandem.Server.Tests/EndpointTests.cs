using System.Net;
using System.Text.Json;
using OpenAI.Models;

namespace Tandem.Server.Tests;

public sealed class EndpointTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Models_lists_the_served_name_for_the_sdk()
    {
        OpenAIModelClient models = fixture.Server.Client.GetOpenAIModelClient();
        OpenAIModelCollection list = await models.GetModelsAsync();
        var model = Assert.Single(list);
        Assert.Equal(RunningServer.ModelName, model.Id);
        Assert.Equal("tandem", model.OwnedBy);

        OpenAIModel one = await models.GetModelAsync(RunningServer.ModelName);
        Assert.Equal(RunningServer.ModelName, one.Id);
    }

    [Fact]
    public async Task Health_is_200_with_the_instances()
    {
        using var response = await fixture.Server.Http.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("ok", body.GetProperty("status").GetString());
        var instances = body.GetProperty("instances").EnumerateArray().ToList();
        var snapshot = fixture.Server.Engine.Snapshot();
        Assert.Equal(snapshot.Instances.Count, instances.Count);
        Assert.Equal(snapshot.Instances.Select(i => i.Role), instances.Select(i => i.GetProperty("role").GetString()));
        Assert.All(instances, i => Assert.True(i.GetProperty("kv_blocks_total").GetInt32() > 0));
    }

    [Fact]
    public async Task Readiness_is_200_ready_while_serving()
    {
        using var response = await fixture.Server.Http.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("ready", body.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Metrics_use_the_vllm_names_and_count_requests()
    {
        // 80 prompt tokens no other test sends, so none is cached: past the default local prefill threshold (64), the
        // prompt goes through the prefill instance and its KV crosses to the decode instance.
        var longPrompt = ApiCalls.Completion(References.OnceUponATime, 8);
        longPrompt["prompt"] = new System.Text.Json.Nodes.JsonArray(Enumerable.Range(300, 80).Select(id => (System.Text.Json.Nodes.JsonNode)id).ToArray());
        var reply = await fixture.Server.Http.PostAsync("/v1/completions", longPrompt);
        Assert.Equal(HttpStatusCode.OK, reply.Status);

        // Metrics are recorded when the runtime reports the outcome, which may trail the HTTP answer by a moment;
        // the transfer count is the last thing a finished request records.
        string text = "";
        for (int attempt = 0; attempt < 200 && !text.Contains("tandem:kv_transfers_total{model_name=\"stories260K\"}"); attempt++)
        {
            using var response = await fixture.Server.Http.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.ToString());
            text = await response.Content.ReadAsStringAsync();
            if (!text.Contains("tandem:kv_transfers_total{")) await Task.Delay(50);
        }
        foreach (var name in new[]
        {
            "vllm:time_to_first_token_seconds", "vllm:time_per_output_token_seconds", "vllm:inter_token_latency_seconds",
            "vllm:request_prefill_time_seconds", "vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds",
            "vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
            "tandem:kv_blocks_used", "tandem:kv_blocks_total", "vllm:kv_cache_usage_perc",
            "tandem:kv_transfer_seconds_total", "tandem:kv_transfer_bytes_total",
        })
        {
            Assert.Contains($"# TYPE {name} ", text);
        }
        Assert.Contains("vllm:time_to_first_token_seconds_count{model_name=\"stories260K\"}", text);
        Assert.Contains("vllm:generation_tokens_total{model_name=\"stories260K\"}", text);
        // Disaggregated: the long prompt's KV crossed from prefill to decode, and the bytes were counted.
        Assert.True(Value(text, "tandem:kv_transfers_total{model_name=\"stories260K\"}") >= 1);
        Assert.True(Value(text, "tandem:kv_transfer_bytes_total{model_name=\"stories260K\"}") > 0);
        Assert.Equal(fixture.Server.Engine.Snapshot().Instances.Sum(i => i.KvBlocksTotal),
            text.Split('\n').Where(l => l.StartsWith("tandem:kv_blocks_total{", StringComparison.Ordinal)).Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)));
    }

    private static double Value(string exposition, string series)
    {
        string line = exposition.Split('\n').Single(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }
}
