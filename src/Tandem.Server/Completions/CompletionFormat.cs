using System.Text.Json;
using Tandem.Engine.Tokenization;
using Tandem.Server.Generation;
using Tandem.Serving;

namespace Tandem.Server.Completions;

/// <summary>/v1/completions objects: <c>text_completion</c> with <c>text</c> and the legacy log-probability shape.</summary>
internal sealed class CompletionFormat(Tokenizer tokenizer) : ChoiceFormat(tokenizer)
{
    public override string IdPrefix => "cmpl-";
    public override string ResponseObject => "text_completion";
    // The legacy API streams chunks under the same object name as whole responses.
    public override string ChunkObject => "text_completion";

    public override void WriteChoice(Utf8JsonWriter w, ChoiceResult choice, bool logProbs, bool timeline)
    {
        w.WriteStartObject();
        w.WriteNumber("index", choice.Index);
        w.WriteString("text", choice.Text.ToString());
        int offset = 0;
        WriteLogProbs(w, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(choice.Tokens), logProbs, ref offset);
        w.WriteString("finish_reason", FinishReasons.ToApi(choice.Outcome!.FinishReason));
        WriteStopReason(w, choice.Outcome);
        if (timeline) TimelineJson.Write(w, choice.Outcome.Timeline);
        w.WriteEndObject();
    }

    /// <summary>With <c>echo</c>, each choice's stream opens with the prompt's text (as vLLM streams it).</summary>
    public override bool WriteOpening(Utf8JsonWriter w, int index, string? echo)
    {
        if (echo is null) return false;
        w.WriteStartObject();
        w.WriteNumber("index", index);
        w.WriteString("text", echo);
        w.WriteNull("logprobs");
        w.WriteNull("finish_reason");
        w.WriteNull("stop_reason");
        w.WriteEndObject();
        return true;
    }

    public override void WriteDelta(Utf8JsonWriter w, int index, string text, ReadOnlySpan<TokenOutput> tokens, bool logProbs, ref int textOffset)
    {
        w.WriteStartObject();
        w.WriteNumber("index", index);
        w.WriteString("text", text);
        WriteLogProbs(w, tokens, logProbs, ref textOffset);
        w.WriteNull("finish_reason");
        w.WriteNull("stop_reason");
        w.WriteEndObject();
    }

    public override void WriteFinish(Utf8JsonWriter w, int index, RequestOutcome outcome, bool timeline)
    {
        w.WriteStartObject();
        w.WriteNumber("index", index);
        w.WriteString("text", "");
        w.WriteNull("logprobs");
        w.WriteString("finish_reason", FinishReasons.ToApi(outcome.FinishReason));
        WriteStopReason(w, outcome);
        if (timeline) TimelineJson.Write(w, outcome.Timeline);
        w.WriteEndObject();
    }

    /// <summary>
    /// <c>{tokens, token_logprobs, top_logprobs, text_offset}</c>. As in vLLM, each top_logprobs map holds the
    /// asked-for alternatives plus the sampled token, so logprobs=0 still reports the sampled token's value.
    /// </summary>
    private void WriteLogProbs(Utf8JsonWriter w, ReadOnlySpan<TokenOutput> tokens, bool logProbs, ref int textOffset)
    {
        if (!logProbs)
        {
            w.WriteNull("logprobs");
            return;
        }
        w.WriteStartObject("logprobs");
        w.WriteStartArray("tokens");
        foreach (var t in tokens) w.WriteStringValue(TokenString(t.TokenId));
        w.WriteEndArray();
        w.WriteStartArray("token_logprobs");
        foreach (var t in tokens) w.WriteNumberValue(t.LogProb.LogProb);
        w.WriteEndArray();
        w.WriteStartArray("top_logprobs");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tokens)
        {
            seen.Clear();
            w.WriteStartObject();
            foreach (var alt in t.TopLogProbs ?? [])
            {
                string s = TokenString(alt.TokenId);
                if (seen.Add(s)) w.WriteNumber(s, alt.LogProb); // two ids with one text: a JSON object keeps the likelier
            }
            string chosen = TokenString(t.TokenId);
            if (seen.Add(chosen)) w.WriteNumber(chosen, t.LogProb.LogProb);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("text_offset");
        foreach (var t in tokens)
        {
            w.WriteNumberValue(textOffset);
            textOffset += TokenString(t.TokenId).Length;
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
