using System.Net;
using Tandem.Server.Cluster;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Tests;

/// <summary>
/// Conditional disaggregation across processes: with <c>--local-prefill-threshold</c> given to the frontend (which
/// decides) and to the decode worker (which then takes prompts sent without KV), a short prompt is prefilled on the
/// decode worker with no KV pulled, a long one goes through the prefill worker, and the output is the same either way.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterLocalPrefillTests
{
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_short_prompt_is_prefilled_on_the_decode_worker_and_a_long_one_goes_through_the_prefill_worker()
    {
        string[] local = ["--local-prefill-threshold", "6"];
        using var cluster = await LocalCluster.StartAsync(1, 1, frontendArguments: local, decodeArguments: local);

        async Task<int> PromptTokensOf(string prompt, string expected)
        {
            var reply = await cluster.Http.PostAsync("/v1/completions", ApiCalls.Completion(prompt, 32));
            Assert.True(reply.Status == HttpStatusCode.OK, $"{reply.Status} {reply.Body}");
            Assert.Equal(expected, reply.Body.GetProperty("choices")[0].GetProperty("text").GetString()); // llama.cpp's text
            return reply.Body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        }
        async Task<int> PullsByTheDecodeWorker()
        {
            var health = await LocalCluster.WorkerHealthAsync(cluster.Decode[0]);
            return health.GetProperty("kv_pulls_streamed").GetInt32() + health.GetProperty("kv_pulls_shared_memory").GetInt32();
        }

        // BOS + 4 tokens, within the threshold: prefilled where it decodes, no KV moved.
        Assert.Equal(References.OnceUponATimePromptTokens, await PromptTokensOf(References.OnceUponATime, References.OnceUponATime32));
        Assert.Equal(0, await PullsByTheDecodeWorker());
        // Past the threshold: the prefill worker, and a pull.
        Assert.True(await PromptTokensOf(References.LilyAndBen, References.LilyAndBen32) > 6);
        Assert.Equal(1, await PullsByTheDecodeWorker());
        await cluster.AssertPoolsEmptyAsync(DrainLimit);
    }

    /// <summary>
    /// With <c>--prefill-busy-tokens 1</c> as well, prompts of any length go to the decode worker while the prefill
    /// worker has a queue (and back to it when the decode pool cannot hold them): the cluster still streams exactly what
    /// one process streams, and frees every block.
    /// </summary>
    [Fact]
    public async Task With_the_prefill_worker_busy_prompts_of_any_length_prefill_on_the_decode_worker_with_the_output_of_one_process()
    {
        const int requests = 32;
        var expected = await ClusterTests.ReferenceOutputAsync();
        using var cluster = await LocalCluster.StartAsync(1, 1,
            frontendArguments: ["--local-prefill-threshold", "16", "--prefill-busy-tokens", "1"],
            decodeArguments: ["--local-prefill-threshold", "16"]);

        var actual = await ClusterWorkload.RunAllAsync(cluster.Http, requests);

        for (int i = 0; i < requests; i++)
            Assert.True(expected[i] == actual[i], $"request {i}: expected {expected[i]}, the cluster streamed {actual[i]}");
        // The decode worker prefilled some itself: it looks a prompt up in its prefix cache only then (a pull is no query).
        using var channels = new ClusterChannels(new ClusterToken(LocalCluster.Token));
        var status = await channels.Worker(cluster.Decode[0].Address.ToString().TrimEnd('/')).StatusAsync(new Proto.StatusRequest());
        Assert.True(status.PrefixCacheQueries > 0, "no prompt was prefilled on the decode worker");
        await cluster.AssertPoolsEmptyAsync(DrainLimit);
    }
}
