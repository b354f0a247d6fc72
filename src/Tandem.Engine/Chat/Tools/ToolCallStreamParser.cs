using System.Text;
using System.Text.Json;

namespace Tandem.Engine.Chat.Tools;

/// <summary>
/// Splits a model's reply, as it streams, into plain content and tool calls in the model's format
/// (<see cref="ToolCallFormat"/>). Text that may still turn out to be part of a call is held back: the rest of a
/// possible <c>&lt;tool_call&gt;</c> marker, a whole Hermes block until its closing tag, and — for the Llama 3 JSON
/// and Mistral formats, whose calls are the whole reply — everything once the reply starts like a call. What is held
/// and does not parse as a call is released as content at <see cref="Finish"/>, so no text is ever lost.
/// </summary>
public sealed class ToolCallStreamParser
{
    private const string HermesOpen = "<tool_call>";
    private const string HermesClose = "</tool_call>";
    private const string PythonTag = "<|python_tag|>";
    private const string MistralTag = "[TOOL_CALLS]";

    private readonly ToolCallFormat _format;
    private readonly string _forcedSuffix;
    private readonly StringBuilder _pending = new();
    private bool _wholeReplyIsCall;
    private bool _decided;
    private int _callsMade;

    /// <param name="forcedPrefix">
    /// Text appended to the prompt to force a call (tool_choice required or named): the model's reply continues it,
    /// so it is parsed as the reply's start.
    /// </param>
    /// <param name="forcedSuffix">
    /// The end of that forced call (such as Mistral's closing <c>]</c>), read after the reply: the reply is
    /// constrained to the call's JSON and ends with it.
    /// </param>
    public ToolCallStreamParser(ToolCallFormat format, string forcedPrefix = "", string forcedSuffix = "")
    {
        _format = format;
        _forcedSuffix = forcedSuffix;
        _pending.Append(forcedPrefix);
    }

    /// <summary>Takes the next piece of the reply; returns the content that can be released and the calls completed by it.</summary>
    public (string Content, IReadOnlyList<ParsedToolCall> Calls) Push(string text)
    {
        _pending.Append(text);
        return _format == ToolCallFormat.Hermes ? DrainHermes(final: false) : DrainWhole(final: false);
    }

    /// <summary>The reply has ended: releases what was held, as calls where it parses and as content otherwise.</summary>
    public (string Content, IReadOnlyList<ParsedToolCall> Calls) Finish()
    {
        _pending.Append(_forcedSuffix);
        return _format == ToolCallFormat.Hermes ? DrainHermes(final: true) : DrainWhole(final: true);
    }

    /// <summary>Whether any call was parsed so far (the choice then finishes with "tool_calls").</summary>
    public bool MadeCalls => _callsMade > 0;

    private (string, IReadOnlyList<ParsedToolCall>) DrainHermes(bool final)
    {
        var content = new StringBuilder();
        var calls = new List<ParsedToolCall>();
        while (true)
        {
            string pending = _pending.ToString();
            int open = pending.IndexOf(HermesOpen, StringComparison.Ordinal);
            if (open < 0)
            {
                // Keep back a tail that could be the start of "<tool_call>".
                int keep = final ? 0 : PartialSuffix(pending, HermesOpen);
                AppendContent(content, pending[..(pending.Length - keep)]);
                _pending.Clear().Append(pending[(pending.Length - keep)..]);
                break;
            }
            int close = pending.IndexOf(HermesClose, open + HermesOpen.Length, StringComparison.Ordinal);
            if (close < 0 && !final)
            {
                AppendContent(content, pending[..open]);
                _pending.Clear().Append(pending[open..]);
                break;
            }
            string body = close < 0 ? pending[(open + HermesOpen.Length)..] : pending[(open + HermesOpen.Length)..close];
            AppendContent(content, pending[..open]);
            if (TryReadCall(body, out var call))
            {
                calls.Add(call);
                _callsMade++;
            }
            else
            {
                // Not a call after all: the model's own text, markers included.
                content.Append(close < 0 ? pending[open..] : pending[open..(close + HermesClose.Length)]);
            }
            _pending.Clear();
            if (close >= 0)
                _pending.Append(pending[(close + HermesClose.Length)..]);
            if (_pending.Length == 0)
                break;
        }
        return (content.ToString(), calls);
    }

    /// <summary>Content between and after calls that is only whitespace is the format's layout, not text for the user.</summary>
    private void AppendContent(StringBuilder content, string text)
    {
        if (_callsMade > 0 && string.IsNullOrWhiteSpace(text))
            return;
        content.Append(text);
    }

    private (string, IReadOnlyList<ParsedToolCall>) DrainWhole(bool final)
    {
        string pending = _pending.ToString();
        string marker = _format == ToolCallFormat.Mistral ? MistralTag : PythonTag;
        if (!_decided)
        {
            string start = pending.TrimStart();
            if (start.Length == 0 && !final)
                return ("", []);
            // Llama's <|python_tag|> and Mistral's [TOOL_CALLS] are control tokens, which the detokenizer does not
            // spell out: a reply that opens like the call itself counts too.
            if (start.StartsWith(marker, StringComparison.Ordinal) || (_format == ToolCallFormat.Llama3Json && start.StartsWith('{'))
                || (_format == ToolCallFormat.Mistral && start.StartsWith("[{", StringComparison.Ordinal)))
            {
                _wholeReplyIsCall = true;
                _decided = true;
            }
            else if (!final && marker.StartsWith(start, StringComparison.Ordinal))
            {
                return ("", []); // could still become the marker
            }
            else
            {
                _decided = true;
            }
        }
        if (!_wholeReplyIsCall)
        {
            _pending.Clear();
            return (pending, []);
        }
        if (!final)
            return ("", []);
        _pending.Clear();
        string reply = pending.TrimStart();
        var calls = _format == ToolCallFormat.Mistral
            ? ReadMistral(reply.StartsWith(MistralTag, StringComparison.Ordinal) ? reply[MistralTag.Length..] : reply)
            : ReadLlama3(reply);
        if (calls is null)
            return (pending, []);
        _callsMade += calls.Count;
        return ("", calls);
    }

    private static List<ParsedToolCall>? ReadLlama3(string text)
    {
        if (text.StartsWith(PythonTag, StringComparison.Ordinal))
            text = text[PythonTag.Length..];
        text = text.Trim();
        if (TryReadCall(text, out var single))
            return [single]; // one object, which may hold a ';' in a string
        var calls = new List<ParsedToolCall>();
        // Several objects separated by ';' (Llama 3.x may emit parallel calls that way).
        foreach (string part in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!TryReadCall(part, out var call))
                return TryReadCallArray(text);
            calls.Add(call);
        }
        return calls.Count > 0 ? calls : null;
    }

    private static List<ParsedToolCall>? ReadMistral(string text)
    {
        text = text.Trim();
        if (text.StartsWith('['))
            return TryReadCallArray(text);
        // Newer templates: name[ARGS]{...}, repeated after further [TOOL_CALLS] markers.
        var calls = new List<ParsedToolCall>();
        foreach (string part in text.Split(MistralTag, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int args = part.IndexOf("[ARGS]", StringComparison.Ordinal);
            if (args <= 0 || !IsJsonObject(part[(args + 6)..], out string arguments))
                return null;
            calls.Add(new ParsedToolCall(part[..args].Trim(), arguments));
        }
        return calls.Count > 0 ? calls : null;
    }

    private static List<ParsedToolCall>? TryReadCallArray(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind != JsonValueKind.Array)
                return null;
            var calls = new List<ParsedToolCall>();
            foreach (var item in doc.RootElement.EnumerateArray())
            {
                if (!TryReadCall(item, out var call))
                    return null;
                calls.Add(call);
            }
            return calls.Count > 0 ? calls : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Reads <c>{"name": ..., "arguments" | "parameters": {...}}</c>.</summary>
    private static bool TryReadCall(string json, out ParsedToolCall call)
    {
        call = null!;
        try
        {
            using var doc = JsonDocument.Parse(json.Trim());
            return TryReadCall(doc.RootElement, out call);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static bool TryReadCall(JsonElement e, out ParsedToolCall call)
    {
        call = null!;
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String
            || string.IsNullOrEmpty(name.GetString()))
            return false;
        string arguments = "{}";
        if (e.TryGetProperty("arguments", out var a) || e.TryGetProperty("parameters", out a))
        {
            if (a.ValueKind == JsonValueKind.Object)
                arguments = a.GetRawText();
            else if (a.ValueKind == JsonValueKind.String && IsJsonObject(a.GetString()!, out string inner))
                arguments = inner;
            else
                return false;
        }
        call = new ParsedToolCall(name.GetString()!, arguments);
        return true;
    }

    private static bool IsJsonObject(string text, out string json)
    {
        json = text.Trim();
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == JsonValueKind.Object;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Length of the longest end of <paramref name="text"/> that is a proper start of <paramref name="marker"/>.</summary>
    private static int PartialSuffix(string text, string marker)
    {
        for (int n = Math.Min(marker.Length - 1, text.Length); n > 0; n--)
            if (string.CompareOrdinal(text, text.Length - n, marker, 0, n) == 0)
                return n;
        return 0;
    }
}
