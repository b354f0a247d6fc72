using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Tandem.Engine.Chat;
using Tandem.Engine.Chat.Tools;
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

        var tools = ToolRequest.Parse(f);
        var templateVariables = TemplateVariables(f);
        var structuredOutput = StructuredOutputFields.Parse(f);
        int n = GenerationFields.N(f, options);

        bool logProbs = f.Bool("logprobs") ?? false;
        int? top = f.Int("top_logprobs", min: 0, max: SamplingParams.MaxLogProbs);
        if (top is not null && !logProbs)
            throw ApiException.Invalid("top_logprobs", "'top_logprobs' requires 'logprobs' to be true.");

        // max_completion_tokens is the current name; max_tokens the deprecated one (vLLM takes the former first).
        int? maxTokens = f.Int("max_completion_tokens", min: 1) ?? f.Int("max_tokens", min: 1);
        string text = prompts.Render(new ChatRenderRequest(messages) { Tools = tools.Shown, TemplateVariables = templateVariables });
        ToolCallPlan? toolCalls = null;
        if (tools.Choice != "none")
        {
            // "required" and a named function are forced: the start of a call after the prompt, the call constrained.
            // With "auto" a call is constrained where the reply opens one, unless response_format constrains the reply.
            var plan = ToolCallPlan.For(prompts.Template.ToolCallFormat, tools.Tools, tools.Choice == "auto", tools.Function, tools.Parallel,
                StructuredOutputFields.Compile);
            toolCalls = plan.Beside(structuredOutput);
            if (toolCalls is null)
            {
                string field = f.Has("guided_json") ? "guided_json" : "response_format";
                throw ApiException.Invalid(field, $"'{field}' cannot be combined with a forced tool call (tool_choice \"required\" or a named function): the reply is then the call, its arguments following the function's parameters.");
            }
            text += toolCalls.ForcedPrefix;
            structuredOutput = toolCalls.Grammar ?? structuredOutput;
        }
        int[] ids = prompts.Tokenize(text, engine.MaxContext) ?? throw GenerationFields.PromptTooLong(engine, "messages");
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
            ToolCalls = toolCalls,
        };
    }

    /// <summary>
    /// <c>chat_template_kwargs</c>: extra variables for the chat template (vLLM's and llama-server's field), e.g.
    /// <c>{"enable_thinking": false}</c> for Qwen3.
    /// </summary>
    private static IReadOnlyDictionary<string, JsonElement> TemplateVariables(RequestFields f)
    {
        var variables = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (!f.TryGet("chat_template_kwargs", out var kwargs))
            return variables;
        if (kwargs.ValueKind != JsonValueKind.Object)
            throw ApiException.Invalid("chat_template_kwargs", "'chat_template_kwargs' must be an object of template variables.");
        foreach (var p in kwargs.EnumerateObject())
        {
            if (p.Name is "messages" or "tools" or "add_generation_prompt" or "bos_token" or "eos_token")
                throw ApiException.Invalid("chat_template_kwargs", $"'chat_template_kwargs' cannot set '{p.Name}': the request's own fields set it.");
            variables[p.Name] = p.Value;
        }
        return variables;
    }

    /// <summary>
    /// <c>messages</c>: objects with a role and a content that is a string or an array of text parts (joined, as
    /// llama-server joins them). "developer" is the newer name of "system". An assistant message may carry
    /// <c>tool_calls</c> (its content then may be null); a tool message answers one by <c>tool_call_id</c>.
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
            string role = OptionalString(fields, "role", param) ?? throw ApiException.Invalid($"{param}.role", $"'{param}.role' is required.");
            if (role == "developer") role = ChatRoles.System;
            if (!ChatRoles.IsKnown(role))
                throw ApiException.Invalid($"{param}.role", $"'{param}.role' must be one of system, developer, user, assistant, tool; got '{role}'.");
            var calls = ToolCalls(fields, param, role);
            bool noContent = !fields.Has("content");
            if (noContent && calls.Count == 0)
                throw ApiException.Invalid($"{param}.content", $"'{param}.content' is required.");
            list.Add(new ChatMessage(role, noContent ? "" : Content(fields, param))
            {
                ContentIsNull = noContent,
                ToolCalls = calls,
                ToolCallId = OptionalString(fields, "tool_call_id", param),
                Name = OptionalString(fields, "name", param),
            });
        }
        return list;
    }

    private static string? OptionalString(RequestFields m, string name, string param)
    {
        if (!m.TryGet(name, out var v)) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw ApiException.Invalid($"{param}.{name}", $"'{param}.{name}' must be a string.");
    }

    /// <summary>An assistant message's <c>tool_calls</c>: <c>[{"id", "type": "function", "function": {"name", "arguments": JSON text}}]</c>.</summary>
    private static List<ChatToolCall> ToolCalls(RequestFields m, string param, string role)
    {
        var calls = new List<ChatToolCall>();
        if (!m.TryGet("tool_calls", out var array))
            return calls;
        if (role != ChatRoles.Assistant)
            throw ApiException.Invalid($"{param}.tool_calls", $"Only an assistant message has 'tool_calls'; '{param}' is a {role} message.");
        if (array.ValueKind != JsonValueKind.Array)
            throw ApiException.Invalid($"{param}.tool_calls", $"'{param}.tool_calls' must be an array.");
        int k = 0;
        foreach (var call in array.EnumerateArray())
        {
            string p = $"{param}.tool_calls[{k++}]";
            if (call.ValueKind != JsonValueKind.Object || !call.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object
                || !function.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
                throw ApiException.Invalid(p, $"'{p}' must be {{\"id\", \"type\": \"function\", \"function\": {{\"name\", \"arguments\"}}}}.");
            string arguments = function.TryGetProperty("arguments", out var a) ? a.ValueKind switch
            {
                JsonValueKind.String => a.GetString()!,
                JsonValueKind.Object => a.GetRawText(),
                _ => throw ApiException.Invalid($"{p}.function.arguments", $"'{p}.function.arguments' must be a JSON string."),
            } : "{}";
            string id = call.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString()! : "";
            calls.Add(new ChatToolCall(id, name.GetString()!, arguments));
        }
        return calls;
    }

    private static string Content(RequestFields m, string param)
    {
        m.TryGet("content", out var content);
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
