using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tandem.Server.Tests;

/// <summary>/tokenize, /detokenize, /version, and the completion fields issue 12 added: echo, logit_bias, stop_token_ids, include_stop_str_in_output, stop_reason.</summary>
public sealed class EndpointFieldTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private HttpClient Http => fixture.Server.Http;
    private Tandem.Engine.Tokenization.Tokenizer Tokenizer => fixture.Server.Engine.Tokenizer;

    private static JsonObject Completion(int maxTokens, params (string Name, JsonNode? Value)[] extra)
    {
        var body = ApiCalls.Completion(References.OnceUponATime, maxTokens);
        foreach (var (name, value) in extra) body[name] = value;
        return body;
    }

    private static JsonElement Choice(ApiCalls.Reply reply)
    {
        Assert.True(reply.Status == HttpStatusCode.OK, reply.Body.ToString());
        return reply.Body.GetProperty("choices")[0];
    }

    [Fact]
    public async Task Tokenize_counts_what_a_completion_prefills_and_detokenize_reverses_it()
    {
        var reply = await Http.PostAsync("/tokenize", new JsonObject { ["prompt"] = References.OnceUponATime, ["return_token_strs"] = true });
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        var tokens = reply.Body.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();
        Assert.Equal(References.OnceUponATimePromptTokens, reply.Body.GetProperty("count").GetInt32());
        Assert.Equal(Tokenizer.Encode(References.OnceUponATime, addBos: true, parseSpecial: true), tokens);
        Assert.Equal(fixture.Server.Engine.MaxContext, reply.Body.GetProperty("max_model_len").GetInt32());
        Assert.Equal(tokens.Select(Tokenizer.TokenText), reply.Body.GetProperty("token_strs").EnumerateArray().Select(s => s.GetString()));

        var noBos = await Http.PostAsync("/tokenize", new JsonObject { ["model"] = RunningServer.ModelName, ["prompt"] = References.OnceUponATime, ["add_special_tokens"] = false });
        Assert.Equal(tokens[1..], noBos.Body.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()));
        Assert.Equal(JsonValueKind.Null, noBos.Body.GetProperty("token_strs").ValueKind);

        var text = await Http.PostAsync("/detokenize", new JsonObject { ["tokens"] = new JsonArray(tokens.Select(t => (JsonNode)t).ToArray()) });
        Assert.Equal(HttpStatusCode.OK, text.Status);
        Assert.Equal(References.OnceUponATime, text.Body.GetProperty("prompt").GetString());
    }

    [Fact]
    public async Task Tokenize_messages_counts_the_chat_prompt()
    {
        var messages = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Tell me a story." });
        var counted = await Http.PostAsync("/tokenize", new JsonObject { ["messages"] = messages.DeepClone() });
        var chat = await Http.PostAsync("/v1/chat/completions", new JsonObject
        {
            ["model"] = RunningServer.ModelName, ["messages"] = messages.DeepClone(), ["max_tokens"] = 1, ["temperature"] = 0,
        });
        Assert.Equal(HttpStatusCode.OK, chat.Status);
        Assert.Equal(chat.Body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), counted.Body.GetProperty("count").GetInt32());
        var bare = await Http.PostAsync("/tokenize", new JsonObject { ["messages"] = messages.DeepClone(), ["add_generation_prompt"] = false });
        Assert.True(bare.Body.GetProperty("count").GetInt32() < counted.Body.GetProperty("count").GetInt32());
    }

    [Theory]
    [InlineData("""{"prompt":"a","messages":[{"role":"user","content":"b"}]}""", "messages")]
    [InlineData("""{}""", "prompt")]
    [InlineData("""{"prompt":"a","model":"other"}""", "model")]
    [InlineData("""{"prompt":"a","chat_template":"x"}""", "chat_template")]
    [InlineData("""{"prompt":"a","no_such_field":1}""", "no_such_field")]
    public async Task Tokenize_refuses_bad_input_naming_the_field(string body, string param)
    {
        var reply = await Http.PostAsync("/tokenize", body);
        Assert.True(reply.Status is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, reply.Body.ToString());
        Assert.Equal(param, reply.Body.GetProperty("error").GetProperty("param").GetString());
    }

    [Theory]
    [InlineData("""{"tokens":[1,99999999]}""")]
    [InlineData("""{"tokens":"1 2"}""")]
    [InlineData("""{}""")]
    public async Task Detokenize_refuses_what_is_not_token_ids(string body)
    {
        var reply = await Http.PostAsync("/detokenize", body);
        ApiCalls.AssertError(reply, HttpStatusCode.BadRequest, param: "tokens");
    }

    [Fact]
    public async Task Version_answers_with_the_build()
    {
        using var response = await Http.GetAsync("/version");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var version = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("version").GetString();
        Assert.False(string.IsNullOrWhiteSpace(version));
    }

    [Fact]
    public async Task Echo_puts_the_prompt_before_the_completion_whole_and_streamed()
    {
        var plain = Choice(await Http.PostAsync("/v1/completions", Completion(8))).GetProperty("text").GetString();
        var echoed = Choice(await Http.PostAsync("/v1/completions", Completion(8, ("echo", true)))).GetProperty("text").GetString();
        Assert.Equal(References.OnceUponATime + plain, echoed);

        var events = await Http.StreamAsync("/v1/completions", Completion(8, ("echo", true), ("stream", true)));
        var texts = events.Where(e => e != "[DONE]").Select(e => JsonDocument.Parse(e).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()).ToList();
        Assert.Equal(References.OnceUponATime, texts[0]);
        Assert.Equal(echoed, string.Concat(texts));

        // Token-id prompts echo their decoded text.
        var ids = Tokenizer.Encode(References.OnceUponATime, addBos: true, parseSpecial: true);
        var byIds = Completion(8, ("echo", true));
        byIds["prompt"] = new JsonArray(ids.Select(t => (JsonNode)t).ToArray());
        Assert.Equal(echoed, Choice(await Http.PostAsync("/v1/completions", byIds)).GetProperty("text").GetString());

        ApiCalls.AssertError(await Http.PostAsync("/v1/completions", Completion(8, ("echo", true), ("logprobs", 1))), HttpStatusCode.BadRequest, param: "echo");
    }

    /// <summary>A token the greedy continuation of "Once upon a time" does not start with, as its own piece.</summary>
    private (int Id, string Piece) ForcedToken()
    {
        int id = Tokenizer.Encode(" dragon", addBos: false, parseSpecial: false)[^1];
        return (id, Encoding.UTF8.GetString(Tokenizer.TokenBytes(id)));
    }

    [Fact]
    public async Task Logit_bias_forces_and_bans_tokens()
    {
        var (id, piece) = ForcedToken();
        var forced = Choice(await Http.PostAsync("/v1/completions", Completion(4, ("logit_bias", new JsonObject { [id.ToString()] = 100 }), ("logprobs", 0))));
        Assert.All(forced.GetProperty("logprobs").GetProperty("tokens").EnumerateArray(), t => Assert.Equal(piece, t.GetString()));
        Assert.Equal(string.Concat(Enumerable.Repeat(piece, 4)), forced.GetProperty("text").GetString());

        // Banning every "," token changes the greedy text, which starts with one; an empty map changes nothing.
        var ban = new JsonObject();
        foreach (int comma in Enumerable.Range(0, Tokenizer.VocabSize).Where(i => Tokenizer.TokenBytes(i) is [(byte)',']))
            ban[comma.ToString()] = -100;
        Assert.NotEmpty(ban);
        var banned = Choice(await Http.PostAsync("/v1/completions", Completion(8, ("logit_bias", ban))));
        Assert.False(banned.GetProperty("text").GetString()!.StartsWith(',')); // the unbiased text does
        var unchanged = Choice(await Http.PostAsync("/v1/completions", Completion(32, ("logit_bias", new JsonObject()))));
        Assert.Equal(References.OnceUponATime32, unchanged.GetProperty("text").GetString());

        foreach (var bad in new JsonNode[] { new JsonObject { ["x"] = 1 }, new JsonObject { ["-1"] = 1 }, new JsonObject { ["1"] = 101 }, new JsonArray(1) })
            ApiCalls.AssertError(await Http.PostAsync("/v1/completions", Completion(4, ("logit_bias", bad))), HttpStatusCode.BadRequest, param: "logit_bias");
    }

    [Fact]
    public async Task Stop_token_ids_end_generation_and_say_which_in_stop_reason()
    {
        var (id, piece) = ForcedToken();
        var bias = new JsonObject { [id.ToString()] = 100 };
        var stopped = await Http.PostAsync("/v1/completions", Completion(8, ("logit_bias", bias.DeepClone()), ("stop_token_ids", new JsonArray(id))));
        var choice = Choice(stopped);
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(id, choice.GetProperty("stop_reason").GetInt32());
        Assert.Equal("", choice.GetProperty("text").GetString());
        Assert.Equal(1, stopped.Body.GetProperty("usage").GetProperty("completion_tokens").GetInt32()); // counted, as vLLM counts it

        var kept = Choice(await Http.PostAsync("/v1/completions", Completion(8, ("logit_bias", bias.DeepClone()), ("stop_token_ids", new JsonArray(id)), ("include_stop_str_in_output", true))));
        Assert.Equal(piece, kept.GetProperty("text").GetString());

        ApiCalls.AssertError(await Http.PostAsync("/v1/completions", Completion(8, ("stop_token_ids", new JsonArray(-3)))), HttpStatusCode.BadRequest, param: "stop_token_ids");
    }

    [Fact]
    public async Task Stop_strings_report_stop_reason_and_can_be_kept()
    {
        var cut = Choice(await Http.PostAsync("/v1/completions", Completion(32, ("stop", "Lily"))));
        int at = References.OnceUponATime32.IndexOf("Lily", StringComparison.Ordinal);
        Assert.Equal(References.OnceUponATime32[..at], cut.GetProperty("text").GetString());
        Assert.Equal("Lily", cut.GetProperty("stop_reason").GetString());

        var kept = Choice(await Http.PostAsync("/v1/completions", Completion(32, ("stop", "Lily"), ("include_stop_str_in_output", true))));
        Assert.Equal(References.OnceUponATime32[..(at + 4)], kept.GetProperty("text").GetString());

        var events = await Http.StreamAsync("/v1/completions", Completion(32, ("stop", "Lily"), ("include_stop_str_in_output", true), ("stream", true)));
        var chunks = events.Where(e => e != "[DONE]").Select(e => JsonDocument.Parse(e).RootElement.GetProperty("choices")[0]).ToList();
        Assert.Equal(References.OnceUponATime32[..(at + 4)], string.Concat(chunks.Select(c => c.GetProperty("text").GetString())));
        Assert.Equal("Lily", chunks[^1].GetProperty("stop_reason").GetString());

        var chat = await Http.PostAsync("/v1/chat/completions", new JsonObject
        {
            ["model"] = RunningServer.ModelName, ["max_tokens"] = 4, ["temperature"] = 0,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi" }),
        });
        var chatChoice = Choice(chat);
        Assert.Equal("length", chatChoice.GetProperty("finish_reason").GetString());
        Assert.Equal(JsonValueKind.Null, chatChoice.GetProperty("stop_reason").ValueKind); // no stop string or token: null, as vLLM
    }

    [Theory]
    [InlineData("guided_regex", "\"[a-z]+\"")]
    [InlineData("grammar", "\"root ::= \\\"a\\\"\"")]
    [InlineData("guided_grammar", "\"root ::= \\\"a\\\"\"")]
    [InlineData("made_up_field", "1")]
    public async Task Fields_not_built_are_refused_by_name(string field, string json)
    {
        var body = Completion(4);
        body[field] = JsonNode.Parse(json);
        var reply = await Http.PostAsync("/v1/completions", body);
        ApiCalls.AssertError(reply, HttpStatusCode.BadRequest, param: field);
        Assert.Contains(field, reply.Body.GetProperty("error").GetProperty("message").GetString());
    }
}
