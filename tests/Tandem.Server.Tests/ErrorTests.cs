using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Tandem.Server.Tests;

/// <summary>Every refusal is an OpenAI error body with the right status, and the server keeps serving afterwards.</summary>
public sealed class ErrorTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private HttpClient Http => fixture.Server.Http;

    private static JsonObject Valid() => ApiCalls.Completion(References.OnceUponATime, 4);

    private static JsonObject With(string field, JsonNode? value)
    {
        var o = Valid();
        o[field] = value;
        return o;
    }

    private static JsonObject ChatWith(string field, JsonNode? value)
    {
        var o = new JsonObject
        {
            ["model"] = RunningServer.ModelName,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi" }),
            ["max_tokens"] = 4,
        };
        o[field] = value;
        return o;
    }

    public static TheoryData<string, string, HttpStatusCode, string?, string?> Cases() => new()
    {
        // path, body, status, param, code
        { "/v1/completions", "{\"model\": \"stories260K\", \"prompt\": ", HttpStatusCode.BadRequest, null, "invalid_json" },
        { "/v1/completions", "", HttpStatusCode.BadRequest, null, "invalid_json" },
        { "/v1/completions", "[1, 2]", HttpStatusCode.BadRequest, null, null },
        { "/v1/completions", With("temperature", "hot").ToJsonString(), HttpStatusCode.BadRequest, "temperature", null },
        { "/v1/completions", With("temperature", -1).ToJsonString(), HttpStatusCode.BadRequest, "temperature", null },
        { "/v1/completions", With("top_p", 1.5).ToJsonString(), HttpStatusCode.BadRequest, "top_p", null },
        { "/v1/completions", With("max_tokens", "ten").ToJsonString(), HttpStatusCode.BadRequest, "max_tokens", null },
        { "/v1/completions", With("max_tokens", 0).ToJsonString(), HttpStatusCode.BadRequest, "max_tokens", null },
        { "/v1/completions", With("max_tokens", 100000).ToJsonString(), HttpStatusCode.BadRequest, "prompt", "context_length_exceeded" },
        { "/v1/completions", With("n", 0).ToJsonString(), HttpStatusCode.BadRequest, "n", null },
        { "/v1/completions", With("n", 129).ToJsonString(), HttpStatusCode.BadRequest, "n", null },
        { "/v1/completions", With("stop", 5).ToJsonString(), HttpStatusCode.BadRequest, "stop", null },
        { "/v1/completions", With("stream", "yes").ToJsonString(), HttpStatusCode.BadRequest, "stream", null },
        { "/v1/completions", With("stream_options", new JsonObject { ["include_usage"] = true }).ToJsonString(), HttpStatusCode.BadRequest, "stream_options", null },
        { "/v1/completions", With("logprobs", 21).ToJsonString(), HttpStatusCode.BadRequest, "logprobs", null },
        { "/v1/completions", With("prompt", null).ToJsonString(), HttpStatusCode.BadRequest, "prompt", null },
        { "/v1/completions", With("prompt", new JsonArray()).ToJsonString(), HttpStatusCode.BadRequest, "prompt", null },
        { "/v1/completions", With("prompt", new JsonArray(1, "a")).ToJsonString(), HttpStatusCode.BadRequest, "prompt", null },
        { "/v1/completions", With("prompt", new JsonArray(1, 99999)).ToJsonString(), HttpStatusCode.BadRequest, "prompt", null },
        { "/v1/completions", With("prompt", 42).ToJsonString(), HttpStatusCode.BadRequest, "prompt", null },
        { "/v1/completions", With("prompt", string.Concat(Enumerable.Repeat("Once upon a time ", 200))).ToJsonString(), HttpStatusCode.BadRequest, "prompt", "context_length_exceeded" },
        { "/v1/completions", With("echo", "yes").ToJsonString(), HttpStatusCode.BadRequest, "echo", null },
        { "/v1/completions", With("guided_regex", "[a-z]+").ToJsonString(), HttpStatusCode.BadRequest, "guided_regex", "unsupported_parameter" },
        { "/v1/completions", With("frobnicate", 1).ToJsonString(), HttpStatusCode.BadRequest, "frobnicate", "unknown_parameter" },
        { "/v1/completions", With("best_of", 2).ToJsonString(), HttpStatusCode.BadRequest, "best_of", "unsupported_parameter" },
        { "/v1/completions", With("suffix", "The end.").ToJsonString(), HttpStatusCode.BadRequest, "suffix", "unsupported_parameter" },
        { "/v1/completions", With("logit_bias", new JsonObject { ["13"] = 500 }).ToJsonString(), HttpStatusCode.BadRequest, "logit_bias", null },
        { "/v1/completions", With("model", "gpt-4").ToJsonString(), HttpStatusCode.NotFound, "model", "model_not_found" },
        { "/v1/completions", With("model", null).ToJsonString(), HttpStatusCode.BadRequest, "model", null },
        { "/v1/chat/completions", ChatWith("messages", null).ToJsonString(), HttpStatusCode.BadRequest, "messages", null },
        { "/v1/chat/completions", ChatWith("messages", new JsonArray()).ToJsonString(), HttpStatusCode.BadRequest, "messages", null },
        { "/v1/chat/completions", ChatWith("messages", "Hi").ToJsonString(), HttpStatusCode.BadRequest, "messages", null },
        { "/v1/chat/completions", ChatWith("messages", new JsonArray(new JsonObject { ["role"] = "robot", ["content"] = "Hi" })).ToJsonString(), HttpStatusCode.BadRequest, "messages[0].role", null },
        { "/v1/chat/completions", ChatWith("messages", new JsonArray(new JsonObject { ["role"] = "user" })).ToJsonString(), HttpStatusCode.BadRequest, "messages[0].content", null },
        { "/v1/chat/completions", ChatWith("top_logprobs", 2).ToJsonString(), HttpStatusCode.BadRequest, "top_logprobs", null },
        { "/v1/chat/completions", ChatWith("max_completion_tokens", -3).ToJsonString(), HttpStatusCode.BadRequest, "max_completion_tokens", null },
        { "/v1/chat/completions", ChatWith("tools", new JsonArray(new JsonObject { ["type"] = "function" })).ToJsonString(), HttpStatusCode.BadRequest, "tools[0].function", null },
        { "/v1/chat/completions", ChatWith("model", "gpt-4o").ToJsonString(), HttpStatusCode.NotFound, "model", "model_not_found" },
        { "/v1/chat/completions", ChatWith("max_tokens", 100000).ToJsonString(), HttpStatusCode.BadRequest, "messages", "context_length_exceeded" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Refused_with_openai_error_body(string path, string body, HttpStatusCode status, string? param, string? code)
    {
        var reply = await Http.PostAsync(path, body);
        ApiCalls.AssertError(reply, status, param, code);
        await AssertStillServing();
    }

    [Fact]
    public async Task Unknown_model_on_models_endpoint_is_404()
    {
        using var response = await Http.GetAsync("/v1/models/gpt-4");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Unknown_v1_path_is_404_in_openai_shape()
    {
        var reply = await Http.PostAsync("/v1/embeddings", "{}");
        ApiCalls.AssertError(reply, HttpStatusCode.NotFound, code: "unknown_url");
    }

    private async Task AssertStillServing()
    {
        var ok = await Http.PostAsync("/v1/completions", Valid());
        Assert.Equal(HttpStatusCode.OK, ok.Status);
    }
}

/// <summary>Which template chat uses when none is chosen: the model's own, else ChatML (llama-server's fallback).</summary>
public sealed class ChatTemplateChoiceTests
{
    /// <summary>stories260K has no tokenizer.chat_template: chat still answers, rendered with ChatML, as llama-server does.</summary>
    [Fact]
    public async Task No_template_falls_back_to_chatml()
    {
        var server = await RunningServer.StartAsync(mode: "colocated", chatTemplate: null);
        try
        {
            Assert.Equal("chatml", server.Server.Api.Chat.Template.Name);
            Assert.Contains("no chat template", server.Server.Api.Chat.Describe());
            var chat = new JsonObject
            {
                ["model"] = RunningServer.ModelName,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Once upon a time" }),
                ["max_tokens"] = 8,
                ["temperature"] = 0,
            };
            var reply = await server.Http.PostAsync("/v1/chat/completions", chat);
            Assert.Equal(HttpStatusCode.OK, reply.Status);

            string chatMl = "<|im_start|>user\nOnce upon a time<|im_end|>\n<|im_start|>assistant\n";
            var same = await server.Http.PostAsync("/v1/completions", ApiCalls.Completion(chatMl, 8));
            Assert.Equal(same.Body.GetProperty("choices")[0].GetProperty("text").GetString(),
                reply.Body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
            Assert.Equal(same.Body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(),
                reply.Body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    /// <summary>
    /// A body past the limit is 413, announced (Content-Length) or found while reading (chunked). The limit is set
    /// low here so the client finishes sending before the server answers and closes: with a multi-megabyte body
    /// the client would still be writing and see a broken pipe instead of the answer.
    /// </summary>
    [Fact]
    public async Task Oversize_body_is_413()
    {
        var server = await RunningServer.StartAsync("colocated", configure: o => o.MaxRequestBodyBytes = 16 << 10);
        try
        {
            var request = ApiCalls.Completion(References.OnceUponATime, 4);
            request["prompt"] = new string('a', 48 << 10);
            var reply = await server.Http.PostAsync("/v1/completions", request);
            ApiCalls.AssertError(reply, HttpStatusCode.RequestEntityTooLarge, code: "request_too_large");

            using var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(request.ToJsonString())));
            content.Headers.ContentType = new("application/json");
            using var message = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = content };
            message.Headers.TransferEncodingChunked = true;
            using var response = await server.Http.SendAsync(message);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);

            var ok = await server.Http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 4));
            Assert.Equal(HttpStatusCode.OK, ok.Status);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Unknown_template_name_fails_start_up()
    {
        await Assert.ThrowsAsync<Tandem.Engine.Chat.ChatTemplateException>(() => RunningServer.StartAsync(mode: "colocated", chatTemplate: "no-such-template"));
    }

    [Fact]
    public async Task Template_that_cannot_express_the_messages_is_400()
    {
        var server = await RunningServer.StartAsync(mode: "colocated", chatTemplate: "yandex"); // yandex has no system role
        try
        {
            var chat = new JsonObject
            {
                ["model"] = RunningServer.ModelName,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "system", ["content"] = "Be brief." }, new JsonObject { ["role"] = "user", ["content"] = "Hi" }),
            };
            ApiCalls.AssertError(await server.Http.PostAsync("/v1/chat/completions", chat), HttpStatusCode.BadRequest, "messages");
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
