using System.Text.Json;
using Tandem.Engine.Chat.Tools;
using Tandem.Engine.Generation;
using Tandem.Engine.Tokenization;
using Tandem.Server.Generation;
using Tandem.Serving;

namespace Tandem.Server.Chat;

/// <summary>
/// /v1/chat/completions objects: <c>chat.completion</c> with an assistant <c>message</c>, <c>chat.completion.chunk</c>
/// with deltas. A request with tools gets a format of its own (<see cref="ForToolCalls"/>) that reads each choice's
/// reply for calls: they come back as <c>tool_calls</c> (streamed as deltas once each call is complete) with
/// finish_reason "tool_calls", and only the text around them as content.
/// </summary>
internal sealed class ChatFormat(Tokenizer tokenizer, ToolCallPlan? tools = null, int choices = 0) : ChoiceFormat(tokenizer)
{
    private readonly ToolCallPlan? _tools = tools;
    private readonly ToolCallStreamParser[]? _parsers = tools is null ? null
        : Enumerable.Range(0, choices).Select(_ => new ToolCallStreamParser(tools.Format, tools.ForcedPrefix, tools.ForcedSuffix)).ToArray();
    private readonly int[] _callsSent = new int[choices];

    /// <summary>The format for one request whose replies are read for tool calls (the parsers hold that request's state).</summary>
    public ChatFormat ForToolCalls(GenerationPlan plan) =>
        plan.ToolCalls is null ? this : new ChatFormat(Tokenizer, plan.ToolCalls, plan.ChoiceCount);

    public override string IdPrefix => "chatcmpl-";
    public override string ResponseObject => "chat.completion";
    public override string ChunkObject => "chat.completion.chunk";

    public override void WriteChoice(Utf8JsonWriter w, ChoiceResult choice, bool logProbs, bool timeline)
    {
        w.WriteStartObject();
        w.WriteNumber("index", choice.Index);
        w.WriteStartObject("message");
        w.WriteString("role", "assistant");
        bool called = false;
        if (_parsers is null)
        {
            w.WriteString("content", choice.Text.ToString());
        }
        else
        {
            var parser = _parsers[choice.Index];
            var (content, calls) = parser.Push(choice.Text.ToString());
            var (rest, more) = parser.Finish();
            content += rest;
            if (calls.Count + more.Count > 0 && content.Trim().Length == 0) w.WriteNull("content");
            else w.WriteString("content", content);
            called = WriteToolCalls(w, choice.Index, [.. calls, .. more], streamed: false);
        }
        w.WriteNull("refusal");
        w.WriteEndObject();
        WriteLogProbs(w, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(choice.Tokens), logProbs);
        w.WriteString("finish_reason", ApiFinishReason(choice.Outcome!.FinishReason, called));
        WriteStopReason(w, choice.Outcome);
        if (timeline) TimelineJson.Write(w, choice.Outcome.Timeline);
        w.WriteEndObject();
    }

    public override bool WriteOpening(Utf8JsonWriter w, int index, string? echo)
    {
        w.WriteStartObject();
        w.WriteNumber("index", index);
        w.WriteStartObject("delta");
        w.WriteString("role", "assistant");
        w.WriteString("content", "");
        w.WriteEndObject();
        w.WriteNull("logprobs");
        w.WriteNull("finish_reason");
        w.WriteEndObject();
        return true;
    }

    public override void WriteDelta(Utf8JsonWriter w, int index, string text, ReadOnlySpan<TokenOutput> tokens, bool logProbs, ref int textOffset)
    {
        w.WriteStartObject();
        w.WriteNumber("index", index);
        w.WriteStartObject("delta");
        if (_parsers is null)
        {
            w.WriteString("content", text);
        }
        else
        {
            // Text that may belong to a call is held back by the parser: the delta then says nothing yet.
            var (content, calls) = _parsers[index].Push(text);
            w.WriteString("content", content);
            WriteToolCalls(w, index, calls, streamed: true);
        }
        w.WriteEndObject();
        WriteLogProbs(w, tokens, logProbs);
        w.WriteNull("finish_reason");
        w.WriteNull("stop_reason");
        w.WriteEndObject();
    }

    public override void WriteFinish(Utf8JsonWriter w, int index, RequestOutcome outcome, bool timeline)
    {
        w.WriteStartObject();
        w.WriteNumber("index", index);
        w.WriteStartObject("delta");
        bool called = false;
        if (_parsers is not null)
        {
            var (content, calls) = _parsers[index].Finish();
            if (content.Length > 0) w.WriteString("content", content);
            WriteToolCalls(w, index, calls, streamed: true);
            called = _callsSent[index] > 0;
        }
        w.WriteEndObject();
        w.WriteNull("logprobs");
        w.WriteString("finish_reason", ApiFinishReason(outcome.FinishReason, called));
        WriteStopReason(w, outcome);
        if (timeline) TimelineJson.Write(w, outcome.Timeline);
        w.WriteEndObject();
    }

    /// <summary>A reply that made calls and ended by itself finishes with "tool_calls", as OpenAI's do.</summary>
    private static string ApiFinishReason(FinishReason reason, bool called) =>
        called && reason == Engine.Generation.FinishReason.Stop ? "tool_calls" : FinishReasons.ToApi(reason);

    /// <summary>
    /// Writes <c>tool_calls</c> (nothing when there are none): each with a new id, its function's name and arguments;
    /// streamed ones carry their index among the choice's calls. Without parallel_tool_calls only the first call is kept.
    /// True when the choice has made any call so far.
    /// </summary>
    private bool WriteToolCalls(Utf8JsonWriter w, int choice, IReadOnlyList<ParsedToolCall> calls, bool streamed)
    {
        bool any = false;
        foreach (var call in calls)
        {
            if (!_tools!.Parallel && _callsSent[choice] > 0)
                break;
            if (!any) w.WriteStartArray("tool_calls");
            any = true;
            w.WriteStartObject();
            if (streamed) w.WriteNumber("index", _callsSent[choice]);
            w.WriteString("id", ChoiceResponder.NewId("call_"));
            w.WriteString("type", "function");
            w.WriteStartObject("function");
            w.WriteString("name", call.Name);
            w.WriteString("arguments", call.Arguments);
            w.WriteEndObject();
            w.WriteEndObject();
            _callsSent[choice]++;
        }
        if (any) w.WriteEndArray();
        return _callsSent[choice] > 0;
    }

    /// <summary><c>{"content":[{token, logprob, bytes, top_logprobs:[{token, logprob, bytes}]}]}</c>, the chat API's shape.</summary>
    private void WriteLogProbs(Utf8JsonWriter w, ReadOnlySpan<TokenOutput> tokens, bool logProbs)
    {
        if (!logProbs)
        {
            w.WriteNull("logprobs");
            return;
        }
        w.WriteStartObject("logprobs");
        w.WriteStartArray("content");
        foreach (var t in tokens)
        {
            w.WriteStartObject();
            WriteToken(w, t.TokenId, t.LogProb.LogProb);
            w.WriteStartArray("top_logprobs");
            foreach (var alt in t.TopLogProbs ?? [])
            {
                w.WriteStartObject();
                WriteToken(w, alt.TokenId, alt.LogProb);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNull("refusal");
        w.WriteEndObject();
    }

    private void WriteToken(Utf8JsonWriter w, int id, float logProb)
    {
        w.WriteString("token", TokenString(id));
        w.WriteNumber("logprob", logProb);
        w.WriteStartArray("bytes");
        foreach (byte b in TokenBytes(id)) w.WriteNumberValue(b);
        w.WriteEndArray();
    }
}
