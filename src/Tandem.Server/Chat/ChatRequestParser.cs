using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Tandem.Engine.Chat;
using Tandem.Engine.Sampling;
using Tandem.Server.Generation;
using Tandem.Server.Protocol;
using Tandem.Serving;

namespace Tandem.Server.Chat;

/// <summary>Validates a /v1/chat/completions body into a <see cref="GenerationPlan"/> (its fields: <see cref="RequestFieldTable"/>).</summary>
internal static class ChatRequestParser
{
    public static GenerationPlan Parse(JsonElement body, HttpRequest http, IServingEngine engine, TandemApiOptions options, ChatPrompts prompts)
    {
        RequestFieldTable.Check(body, RequestFieldTable.Chat);
        var f = new RequestFields(body);
        string model = GenerationFields.Model(f, options);
        var messages = Messages(f);

        if (f.TryGet("tools", out var tools) && !(tools.ValueKind == JsonValueKind.Array && tools.GetArrayLength() == 0))
            throw ApiException.Unsupported("tools", "'tools' is not supported.");
        var structuredOutput = StructuredOutputFields.Parse(f);
        int n = GenerationFields.N(f, options);

        bool logProbs = f.Bool("logprobs") ?? false;
        int? top = f.Int("top_logprobs", min: 0, max: SamplingParams.MaxLogProbs);
        if (top is not null && !logProbs)
            throw ApiException.Invalid("top_logprobs", "'top_logprobs' requires 'logprobs' to be true.");

        // max_completion_tokens is the current name; max_tokens the deprecated one (vLLM takes the former first).
        int? maxTokens = f.Int("max_completion_tokens", min: 1) ?? f.Int("max_tokens", min: 1);
        int[] ids = prompts.Tokenize(messages, engine.MaxContext) ?? throw GenerationFields.PromptTooLong(engine, "messages");
        int budget = GenerationFields.MaxTokens(ids.Length, maxTokens, null, engine, "messages");

        bool stream = GenerationFields.Stream(f, out bool includeUsage);
        return new GenerationPlan
        {
            Model = model,
            Prompts = [ids],
            MaxTokens = [budget],
            N = n,
            Sampling = GenerationFields.Sampling(f, top ?? 0, engine.Tokenizer.VocabSize),
            Stop = f.StringOrStrings("stop"),
            StopTokenIds = f.TokenIds("stop_token_ids", engine.Tokenizer.VocabSize),
            IncludeStopStringInOutput = f.Bool("include_stop_str_in_output") ?? false,
            IgnoreEos = f.Bool("ignore_eos") ?? false,
            StructuredOutput = structuredOutput,
            LogProbs = logProbs,
            Stream = stream,
            IncludeUsage = includeUsage,
            ReturnTimeline = GenerationFields.ReturnTimeline(f, http),
        };
    }

    /// <summary>
    /// <c>messages</c>: objects with a role and a content that is a string or an array of text parts (joined, as
    /// llama-server joins them). "developer" is the newer name of "system".
    /// </summary>
    internal static List<ChatMessage> Messages(RequestFields f)
    {
        if (!f.TryGet("messages", out var array))
            throw ApiException.Invalid("messages", "'messages' is required.");
        if (array.ValueKind != JsonValueKind.Array)
            throw ApiException.Invalid("messages", "'messages' must be an array of message objects.");
        if (array.GetArrayLength() == 0)
            throw ApiException.Invalid("messages", "'messages' must not be empty.");

        var list = new List<ChatMessage>();
        int i = 0;
        foreach (var m in array.EnumerateArray())
        {
            string param = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object)
                throw ApiException.Invalid(param, $"'{param}' must be an object with 'role' and 'content'.");
            var fields = new RequestFields(m);
            string role = fields.String("role") ?? throw ApiException.Invalid($"{param}.role", $"'{param}.role' is required.");
            if (role == "developer") role = ChatRoles.System;
            if (!ChatRoles.IsKnown(role))
                throw ApiException.Invalid($"{param}.role", $"'{param}.role' must be one of system, developer, user, assistant, tool; got '{role}'.");
            list.Add(new ChatMessage(role, Content(fields, param)));
        }
        return list;
    }

    private static string Content(RequestFields m, string param)
    {
        if (!m.TryGet("content", out var content))
        {
            if (m.Has("tool_calls"))
                throw ApiException.Unsupported($"{param}.tool_calls", "Tool calls are not supported.");
            throw ApiException.Invalid($"{param}.content", $"'{param}.content' is required.");
        }
        if (content.ValueKind == JsonValueKind.String)
            return content.GetString()!;
        if (content.ValueKind != JsonValueKind.Array)
            throw ApiException.Invalid($"{param}.content", $"'{param}.content' must be a string or an array of content parts.");
        var text = new StringBuilder();
        foreach (var part in content.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                throw ApiException.Invalid($"{param}.content", "Each content part must be an object with a 'type'.");
            if (!type.ValueEquals("text"))
                throw ApiException.Unsupported($"{param}.content", $"Content parts of type '{type.GetString()}' are not supported; only 'text'.");
            if (!part.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                throw ApiException.Invalid($"{param}.content", "A text content part needs a string 'text'.");
            if (text.Length > 0) text.Append('\n');
            text.Append(t.GetString());
        }
        return text.ToString();
    }
}
