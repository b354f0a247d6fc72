using System.Text.Json;
using Tandem.Engine.Tokenization;
using Tandem.Server.Generation;
using Tandem.Serving;

namespace Tandem.Server.Chat;

/// <summary>/v1/chat/completions objects: <c>chat.completion</c> with an assistant <c>message</c>, <c>chat.completion.chunk</c> with deltas.</summary>
internal sealed class ChatFormat(Tokenizer tokenizer) : ChoiceFormat(tokenizer)
{
    public override string IdPrefix => "chatcmpl-";
    public override string ResponseObject => "chat.completion";
    public override string ChunkObject => "chat.completion.chunk";

    public override void WriteChoice(Utf8JsonWriter w, ChoiceResult choice, bool logProbs, bool timeline)
    {
        w.WriteStartObject();
        w.WriteNumber("index", choice.Index);
        w.WriteStartObject("message");
        w.WriteString("role", "assistant");
        w.WriteString("content", choice.Text.ToString());
        w.WriteNull("refusal");
        w.WriteEndObject();
        WriteLogProbs(w, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(choice.Tokens), logProbs);
        w.WriteString("finish_reason", FinishReasons.ToApi(choice.Outcome!.FinishReason));
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
        w.WriteString("content", text);
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
        w.WriteEndObject();
        w.WriteNull("logprobs");
        w.WriteString("finish_reason", FinishReasons.ToApi(outcome.FinishReason));
        WriteStopReason(w, outcome);
        if (timeline) TimelineJson.Write(w, outcome.Timeline);
        w.WriteEndObject();
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
