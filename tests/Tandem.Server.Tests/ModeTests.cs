using System.Text.Json.Nodes;

namespace Tandem.Server.Tests;

/// <summary>Disaggregated, colocated and chunked serving compute the same thing: greedy text is identical.</summary>
public sealed class ModeTests
{
    [Fact]
    public async Task Greedy_output_is_identical_across_modes()
    {
        string[] prompts = [References.OnceUponATime, References.LilyAndBen, "One day, a little dog"];
        var results = new Dictionary<string, string[]>();
        foreach (var mode in new[] { "disaggregated", "colocated", "chunked" })
        {
            var server = await RunningServer.StartAsync(mode);
            try
            {
                results[mode] = await Task.WhenAll(prompts.Select(async p =>
                {
                    var request = ApiCalls.Completion(p, 48);
                    request["ignore_eos"] = true;
                    var reply = await server.Http.PostAsync("/v1/completions", request);
                    return reply.Body.GetProperty("choices")[0].GetProperty("text").GetString()!;
                }));
            }
            finally
            {
                await server.DisposeAsync();
            }
        }
        Assert.StartsWith(References.OnceUponATime32, results["disaggregated"][0]);
        Assert.Equal(results["disaggregated"], results["colocated"]);
        Assert.Equal(results["disaggregated"], results["chunked"]);
    }
}
