using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tandem.Server.Tests;

public sealed class CompletionsTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private HttpClient Http => fixture.Server.Http;

    [Fact]
    public async Task Greedy_completion_is_llama_cpp_text_with_openai_shape()
    {
        var reply = await Http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 32));
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        var body = reply.Body;
        Assert.StartsWith("cmpl-", body.GetProperty("id").GetString());
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        Assert.True(body.GetProperty("created").GetInt64() > 1_600_000_000);
        Assert.Equal(RunningServer.ModelName, body.GetProperty("model").GetString());
        var choice = Assert.Single(body.GetProperty("choices").EnumerateArray());
        Assert.Equal(0, choice.GetProperty("index").GetInt32());
        Assert.Equal(References.OnceUponATime32, choice.GetProperty("text").GetString());
        Assert.Equal(JsonValueKind.Null, choice.GetProperty("logprobs").ValueKind);
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        var usage = body.GetProperty("usage");
        Assert.Equal(References.OnceUponATimePromptTokens, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(32, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(References.OnceUponATimePromptTokens + 32, usage.GetProperty("total_tokens").GetInt32());
        Assert.False(body.TryGetProperty("tandem_timeline", out _));
    }

    [Fact]
    public async Task Default_max_tokens_is_16()
    {
        var request = ApiCalls.Completion(References.OnceUponATime, 1);
        request.Remove("max_tokens");
        var reply = await Http.PostAsync("/v1/completions", request);
        Assert.Equal(16, reply.Body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Stream_sends_the_same_text_in_chunks_then_usage_and_done()
    {
        var request = ApiCalls.Completion(References.OnceUponATime, 32);
        request["stream"] = true;
        request["stream_options"] = new JsonObject { ["include_usage"] = true };
        var events = await Http.StreamAsync("/v1/completions", request);

        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        string id = chunks[0].GetProperty("id").GetString()!;
        Assert.StartsWith("cmpl-", id);
        Assert.All(chunks, c => Assert.Equal(id, c.GetProperty("id").GetString()));
        Assert.All(chunks, c => Assert.Equal("text_completion", c.GetProperty("object").GetString()));

        var usageChunk = chunks[^1];
        Assert.Empty(usageChunk.GetProperty("choices").EnumerateArray());
        Assert.Equal(32, usageChunk.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(References.OnceUponATimePromptTokens, usageChunk.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        var text = new StringBuilder();
        string? finish = null;
        foreach (var c in chunks[..^1])
        {
            Assert.Equal(JsonValueKind.Null, c.GetProperty("usage").ValueKind);
            var choice = Assert.Single(c.GetProperty("choices").EnumerateArray());
            text.Append(choice.GetProperty("text").GetString());
            if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String)
                finish = choice.GetProperty("finish_reason").GetString();
        }
        Assert.Equal(References.OnceUponATime32, text.ToString());
        Assert.Equal("length", finish);
        Assert.True(chunks.Count > 3); // streamed piece by piece, not in one go
    }

    [Fact]
    public async Task Stop_string_ends_the_text_before_it()
    {
        var request = ApiCalls.Completion(References.OnceUponATime, 32);
        request["stop"] = new JsonArray("Lily", "never there");
        var reply = await Http.PostAsync("/v1/completions", request);
        var choice = reply.Body.GetProperty("choices")[0];
        Assert.Equal(", there was a little girl named ", choice.GetProperty("text").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());

        request["stop"] = "Lily"; // a single string works too
        request["stream"] = true;
        var events = await Http.StreamAsync("/v1/completions", request);
        string streamed = string.Concat(events[..^1].Select(e => JsonDocument.Parse(e).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()));
        Assert.Equal(", there was a little girl named ", streamed);
    }

    [Fact]
    public async Task N_choices_use_seed_plus_index()
    {
        var request = ApiCalls.Completion(References.OnceUponATime, 12, temperature: 1.0);
        request["n"] = 3;
        request["seed"] = 1234;
        var reply = await Http.PostAsync("/v1/completions", request);
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        var choices = reply.Body.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2], choices.Select(c => c.GetProperty("index").GetInt32()));
        Assert.Equal(References.OnceUponATimePromptTokens, reply.Body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        int completionTokens = 0;
        for (int i = 0; i < 3; i++)
        {
            var single = ApiCalls.Completion(References.OnceUponATime, 12, temperature: 1.0);
            single["seed"] = 1234 + i;
            var alone = await Http.PostAsync("/v1/completions", single);
            Assert.Equal(alone.Body.GetProperty("choices")[0].GetProperty("text").GetString(), choices[i].GetProperty("text").GetString());
            completionTokens += alone.Body.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
        }
        Assert.Equal(completionTokens, reply.Body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Streamed_choices_interleave_and_each_adds_up_to_its_whole_text()
    {
        var request = ApiCalls.Completion(References.OnceUponATime, 16, temperature: 0.8);
        request["n"] = 3;
        request["seed"] = 99;
        var whole = await Http.PostAsync("/v1/completions", request);
        request["stream"] = true;
        var events = await Http.StreamAsync("/v1/completions", request);
        Assert.Equal("[DONE]", events[^1]);
        var texts = new StringBuilder[3];
        var finishes = new string?[3];
        for (int i = 0; i < 3; i++) texts[i] = new StringBuilder();
        foreach (var e in events[..^1])
        {
            var choice = Assert.Single(JsonDocument.Parse(e).RootElement.GetProperty("choices").EnumerateArray());
            int index = choice.GetProperty("index").GetInt32();
            texts[index].Append(choice.GetProperty("text").GetString());
            if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String)
            {
                Assert.Null(finishes[index]); // one finish per choice
                finishes[index] = choice.GetProperty("finish_reason").GetString();
            }
        }
        for (int i = 0; i < 3; i++)
        {
            var expected = whole.Body.GetProperty("choices")[i];
            Assert.Equal(expected.GetProperty("text").GetString(), texts[i].ToString());
            Assert.Equal(expected.GetProperty("finish_reason").GetString(), finishes[i]);
        }
    }

    [Fact]
    public async Task Prompt_forms_string_array_token_ids_and_id_arrays()
    {
        var request = ApiCalls.Completion(References.OnceUponATime, 32);
        request["prompt"] = new JsonArray(References.OnceUponATime, References.LilyAndBen);
        var reply = await Http.PostAsync("/v1/completions", request);
        var choices = reply.Body.GetProperty("choices");
        Assert.Equal(References.OnceUponATime32, choices[0].GetProperty("text").GetString());
        Assert.Equal(References.LilyAndBen32, choices[1].GetProperty("text").GetString());
        Assert.Equal(References.OnceUponATimePromptTokens + 12, reply.Body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        request["prompt"] = new JsonArray(1, 403, 407, 261, 378); // "Once upon a time" with BOS, as token ids
        reply = await Http.PostAsync("/v1/completions", request);
        Assert.Equal(References.OnceUponATime32, reply.Body.GetProperty("choices")[0].GetProperty("text").GetString());

        request["prompt"] = new JsonArray(new JsonArray(1, 403, 407, 261, 378), new JsonArray(1, 317, 269, 368, 302, 263, 377, 267, 265, 282, 295, 433));
        request["n"] = 2;
        reply = await Http.PostAsync("/v1/completions", request);
        choices = reply.Body.GetProperty("choices");
        Assert.Equal(4, choices.GetArrayLength()); // choice p·n + i
        Assert.Equal(References.OnceUponATime32, choices[1].GetProperty("text").GetString());
        Assert.Equal(References.LilyAndBen32, choices[2].GetProperty("text").GetString());
    }

    [Fact]
    public async Task Logprobs_report_the_sampled_token_and_alternatives()
    {
        var request = ApiCalls.Completion(References.OnceUponATime, 8);
        request["logprobs"] = 3;
        var reply = await Http.PostAsync("/v1/completions", request);
        var choice = reply.Body.GetProperty("choices")[0];
        var lp = choice.GetProperty("logprobs");
        var tokens = lp.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!).ToList();
        var values = lp.GetProperty("token_logprobs").EnumerateArray().Select(t => t.GetDouble()).ToList();
        var tops = lp.GetProperty("top_logprobs").EnumerateArray().ToList();
        var offsets = lp.GetProperty("text_offset").EnumerateArray().Select(t => t.GetInt32()).ToList();
        Assert.Equal(8, tokens.Count);
        Assert.Equal(8, values.Count);
        Assert.Equal(8, tops.Count);
        Assert.Equal(string.Concat(tokens), choice.GetProperty("text").GetString());
        Assert.Equal(0, offsets[0]);
        for (int i = 0; i < 8; i++)
        {
            Assert.True(values[i] <= 0);
            var alternatives = tops[i].EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
            Assert.InRange(alternatives.Count, 3, 4);
            // Greedy: the sampled token is the most likely one.
            Assert.Equal(alternatives.Values.Max(), values[i], 5);
            Assert.Equal(values[i], alternatives[tokens[i]], 5);
            if (i > 0) Assert.Equal(offsets[i - 1] + tokens[i - 1].Length, offsets[i]);
        }
    }

    [Fact]
    public async Task Timeline_on_request_or_header()
    {
        var request = ApiCalls.Completion(References.OnceUponATime, 6);
        request["return_timeline"] = true;
        var reply = await Http.PostAsync("/v1/completions", request);
        AssertTimeline(reply.Body.GetProperty("tandem_timeline"), 6);
        AssertTimeline(reply.Body.GetProperty("choices")[0].GetProperty("tandem_timeline"), 6);

        request.Remove("return_timeline");
        reply = await Http.PostAsync("/v1/completions", request, new Dictionary<string, string> { ["X-Tandem-Timeline"] = "1" });
        AssertTimeline(reply.Body.GetProperty("tandem_timeline"), 6);

        request["return_timeline"] = true;
        request["stream"] = true;
        var events = await Http.StreamAsync("/v1/completions", request);
        AssertTimeline(JsonDocument.Parse(events[^2]).RootElement.GetProperty("tandem_timeline"), 6);
    }

    private static void AssertTimeline(JsonElement t, int tokens)
    {
        double arrival = t.GetProperty("arrival").GetDouble();
        double first = t.GetProperty("first_token").GetDouble();
        double end = t.GetProperty("end").GetDouble();
        var times = t.GetProperty("token_times").EnumerateArray().Select(x => x.GetDouble()).ToList();
        Assert.Equal(tokens, times.Count);
        Assert.Equal(first, times[0]);
        Assert.True(arrival <= t.GetProperty("prefill_start").GetDouble());
        Assert.True(t.GetProperty("prefill_start").GetDouble() <= t.GetProperty("prefill_end").GetDouble());
        Assert.True(arrival <= first && first <= end);
        Assert.Equal(times.Order(), times);
        // The fixture runs disaggregated with the default local prefill threshold: this 5-token prompt is prefilled on
        // the decode instance, so its KV never moves (no transfer) and decoding follows the prefill there.
        Assert.Equal(JsonValueKind.Null, t.GetProperty("transfer_start").ValueKind);
        Assert.Equal(JsonValueKind.Null, t.GetProperty("transfer_end").ValueKind);
        Assert.True(t.GetProperty("prefill_end").GetDouble() <= t.GetProperty("decode_start").GetDouble());
        Assert.True(t.GetProperty("prefill_queued").GetDouble() >= arrival);
    }

    [Fact]
    public async Task Concurrent_requests_each_get_their_own_greedy_text()
    {
        string[] prompts = [References.OnceUponATime, References.LilyAndBen, "One day", "The cat", "Tom had a", "She was happy"];
        var solo = new Dictionary<string, string>();
        foreach (var p in prompts)
            solo[p] = (await Http.PostAsync("/v1/completions", ApiCalls.Completion(p, 24))).Body.GetProperty("choices")[0].GetProperty("text").GetString()!;

        var together = await Task.WhenAll(prompts.Concat(prompts).Select(async p =>
        {
            var r = await Http.PostAsync("/v1/completions", ApiCalls.Completion(p, 24));
            return (p, r.Body.GetProperty("choices")[0].GetProperty("text").GetString());
        }));
        foreach (var (p, text) in together)
            Assert.Equal(solo[p], text);
        Assert.Equal(References.OnceUponATime32[..solo[References.OnceUponATime].Length], solo[References.OnceUponATime]);
    }

    [Fact]
    public async Task Ignore_eos_runs_to_max_tokens()
    {
        var request = ApiCalls.Completion(References.OnceUponATime, 300);
        request["ignore_eos"] = true;
        var reply = await Http.PostAsync("/v1/completions", request);
        Assert.Equal(300, reply.Body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal("length", reply.Body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }
}
