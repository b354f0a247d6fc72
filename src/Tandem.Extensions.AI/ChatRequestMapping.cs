using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Tandem.Engine.Sampling;
using Tandem.Serving;
using EngineChat = Tandem.Engine.Chat;

namespace Tandem.Extensions.AI;

/// <summary>
/// Microsoft.Extensions.AI's messages and <see cref="ChatOptions"/> as the runtime's request, with the defaults and
/// limits of Tandem's OpenAI endpoint (temperature 1, top-p 1, no top-k; a completion that fits the context and the
/// KV cache when no maximum is given), so the same request gets the same text in process and over HTTP.
/// What the runtime cannot do (images, audio, tools other than functions) is a <see cref="NotSupportedException"/>, never ignored.
/// </summary>
internal static class ChatRequestMapping
{
    /// <summary>
    /// The conversation as the template's messages. An assistant message's <see cref="FunctionCallContent"/>s are its
    /// tool calls (arguments as JSON text); each <see cref="FunctionResultContent"/> is a tool message answering its call
    /// (the result as text: a string as it is, anything else as JSON), as the OpenAI client sends them — so a
    /// <c>UseFunctionInvocation()</c> pipeline feeds results back to the model.
    /// </summary>
    public static List<EngineChat.ChatMessage> Messages(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        var list = new List<EngineChat.ChatMessage>();
        // Instructions are the system prompt of this call, ahead of the conversation (as the OpenAI client sends them).
        if (!string.IsNullOrEmpty(options?.Instructions))
            list.Add(EngineChat.ChatMessage.System(options.Instructions));
        foreach (var m in messages)
        {
            var calls = new List<EngineChat.ChatToolCall>();
            var results = new List<FunctionResultContent>();
            var text = new StringBuilder();
            foreach (var content in m.Contents)
            {
                switch (content)
                {
                    case TextContent t:
                        if (text.Length > 0) text.Append('\n');
                        text.Append(t.Text);
                        break;
                    case FunctionCallContent call when m.Role == ChatRole.Assistant:
                        calls.Add(new EngineChat.ChatToolCall(call.CallId, call.Name, JsonSerializer.Serialize(call.Arguments ?? new Dictionary<string, object?>(), AIJsonUtilities.DefaultOptions)));
                        break;
                    case FunctionResultContent result:
                        results.Add(result);
                        break;
                    default:
                        throw new NotSupportedException($"Tandem's runtime takes text, function calls (in assistant messages) and function results; a {m.Role.Value} message holds {content.GetType().Name}");
                }
            }
            if (results.Count > 0)
            {
                if (text.Length > 0)
                    throw new NotSupportedException($"a {m.Role.Value} message holds both text and function results: give the text a message of its own");
                foreach (var result in results)
                {
                    list.Add(EngineChat.ChatMessage.Tool(ResultText(result)) with { ToolCallId = result.CallId });
                }
                continue;
            }
            list.Add(new EngineChat.ChatMessage(Role(m.Role), text.ToString()) { ToolCalls = calls, ContentIsNull = calls.Count > 0 && text.Length == 0 });
        }
        if (list.Count == 0)
            throw new ArgumentException("the conversation is empty: give at least one message", nameof(messages));
        return list;
    }

    /// <summary>A function's result as the tool message's text: a string as it is, anything else as JSON (as the OpenAI client sends it).</summary>
    private static string ResultText(FunctionResultContent result) => result.Result switch
    {
        string s => s,
        null when result.Exception is not null => $"Error: {result.Exception.Message}",
        var value => JsonSerializer.Serialize(value, AIJsonUtilities.DefaultOptions),
    };

    public static SamplingParams Sampling(ChatOptions? options)
    {
        try
        {
            return new SamplingParams
            {
                Temperature = options?.Temperature ?? 1,
                TopP = options?.TopP ?? 1,
                TopK = Math.Max(0, options?.TopK ?? 0),
                MinP = 0,
                PresencePenalty = options?.PresencePenalty ?? 0,
                FrequencyPenalty = options?.FrequencyPenalty ?? 0,
                Seed = options?.Seed is long seed ? unchecked((ulong)seed) : null,
            };
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new ArgumentException($"ChatOptions.{e.ParamName}: {e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal)}", nameof(options), e);
        }
    }

    /// <summary>The completion budget: the one asked for when prompt + it fit the context, else what fits the context and the KV cache.</summary>
    public static int MaxTokens(int promptTokens, ChatOptions? options, IServingEngine engine)
    {
        int ctx = engine.MaxContext;
        if (promptTokens >= ctx)
            throw new ArgumentException($"the conversation has {promptTokens} tokens, which leaves no room for a reply in the model's {ctx}-token context");
        if (options?.MaxOutputTokens is int m)
        {
            if (m < 1)
                throw new ArgumentException($"ChatOptions.MaxOutputTokens must be at least 1, got {m}", nameof(options));
            if (promptTokens + m > ctx)
                throw new ArgumentException($"the conversation has {promptTokens} tokens and {m} more were asked for: that is past the model's {ctx}-token context");
            return m;
        }
        int kv = engine.KvCapacityTokens;
        if (promptTokens >= kv)
            throw new ArgumentException($"the KV cache holds at most {kv} tokens for one request, and the conversation has {promptTokens}");
        return Math.Min(ctx, kv) - promptTokens;
    }

    private static string Role(ChatRole role)
    {
        if (role == ChatRole.System || role.Value == "developer") return EngineChat.ChatRoles.System;
        if (role == ChatRole.User) return EngineChat.ChatRoles.User;
        if (role == ChatRole.Assistant) return EngineChat.ChatRoles.Assistant;
        if (role == ChatRole.Tool) return EngineChat.ChatRoles.Tool;
        throw new ArgumentException($"the message role '{role.Value}' is not one of system, user, assistant, tool");
    }
}
