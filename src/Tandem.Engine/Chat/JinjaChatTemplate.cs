using System.Text.Json;
using Tandem.Engine.Chat.Jinja;

namespace Tandem.Engine.Chat;

/// <summary>
/// A Jinja chat template (a model's tokenizer.chat_template, a <c>--chat-template-file</c>, or Tandem's ChatML),
/// rendered with the variables transformers' <c>apply_chat_template</c> passes: <c>messages</c>, <c>tools</c> (none
/// when the request has none), <c>documents</c> (none), <c>add_generation_prompt</c>, <c>bos_token</c>,
/// <c>eos_token</c>, and the request's <c>chat_template_kwargs</c>. As vLLM and llama.cpp do, a tool call's
/// <c>arguments</c> reach the template as a parsed object when they are JSON, so <c>arguments | tojson</c> writes it once.
/// </summary>
public sealed class JinjaChatTemplate : IChatTemplate
{
    private readonly JinjaTemplate _template;
    private readonly string _bosToken;
    private readonly string _eosToken;
    private readonly TimeProvider? _time;

    private JinjaChatTemplate(string name, string source, JinjaTemplate template, string bosToken, string eosToken, TimeProvider? time)
    {
        _time = time;
        Name = name;
        Source = source;
        _template = template;
        _bosToken = bosToken;
        _eosToken = eosToken;
        ToolCallFormat = ToolCallFormats.Detect(source);
    }

    /// <summary>
    /// Parses <paramref name="source"/>; throws <see cref="ChatTemplateException"/> naming <paramref name="name"/> when
    /// it is not a template Tandem can parse. <paramref name="time"/> is the clock of <c>strftime_now</c> (tests fix it).
    /// </summary>
    public static JinjaChatTemplate Parse(string name, string source, string bosToken, string eosToken, TimeProvider? time = null)
    {
        try
        {
            return new JinjaChatTemplate(name, source, JinjaTemplate.Parse(source), bosToken, eosToken, time);
        }
        catch (JinjaException e)
        {
            throw new ChatTemplateException($"{name} cannot be parsed: {e.Message}");
        }
    }

    public string Name { get; }

    /// <summary>The template's text.</summary>
    public string Source { get; }

    public ToolCallFormat ToolCallFormat { get; }

    public bool StartsWithBos(string rendered) => _bosToken.Length > 0 && rendered.StartsWith(_bosToken, StringComparison.Ordinal);

    public string Render(ChatRenderRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var variables = new Dictionary<string, JinjaValue>(StringComparer.Ordinal);
        foreach (var (key, value) in request.TemplateVariables)
            variables[key] = JinjaJson.FromJson(value);
        variables["messages"] = new JinjaList(request.Messages.Select(m => (JinjaValue)ToValue(m)).ToList());
        variables["tools"] = request.Tools.Count > 0 ? new JinjaList(request.Tools.Select(JinjaJson.FromJson).ToList()) : JinjaNone.Instance;
        variables.TryAdd("documents", JinjaNone.Instance);
        variables["add_generation_prompt"] = JinjaValue.From(request.AddGenerationPrompt);
        variables["bos_token"] = new JinjaString(_bosToken);
        variables["eos_token"] = new JinjaString(_eosToken);
        try
        {
            return _template.Render(variables, _time);
        }
        catch (JinjaException e) when (e.Raised)
        {
            throw new ChatTemplateException($"the chat template refused the conversation: {e.Message}");
        }
        catch (JinjaException e)
        {
            throw new ChatTemplateException($"the chat template failed: {e.Message}");
        }
    }

    /// <summary>A message as transformers hands it to a template: role, content, and the tool fields only where present.</summary>
    public static JinjaDict ToValue(ChatMessage m)
    {
        var d = new JinjaDict();
        d.Entries["role"] = new JinjaString(m.Role);
        d.Entries["content"] = m.ContentIsNull ? JinjaNone.Instance : new JinjaString(m.Content);
        if (m.Name is not null)
            d.Entries["name"] = new JinjaString(m.Name);
        if (m.ToolCallId is not null)
            d.Entries["tool_call_id"] = new JinjaString(m.ToolCallId);
        if (m.ToolCalls.Count > 0)
        {
            var calls = new List<JinjaValue>();
            foreach (var call in m.ToolCalls)
            {
                var function = new JinjaDict();
                function.Entries["name"] = new JinjaString(call.Name);
                function.Entries["arguments"] = ParseArguments(call.Arguments);
                var c = new JinjaDict();
                c.Entries["id"] = new JinjaString(call.Id);
                c.Entries["type"] = new JinjaString("function");
                c.Entries["function"] = function;
                calls.Add(c);
            }
            d.Entries["tool_calls"] = new JinjaList(calls);
        }
        return d;
    }

    private static JinjaValue ParseArguments(string arguments)
    {
        try
        {
            return JinjaJson.Parse(arguments);
        }
        catch (JsonException)
        {
            return new JinjaString(arguments);
        }
    }

    public override string ToString() => Name;
}
