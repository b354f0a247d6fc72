using System.Text;
using System.Text.Json;
using Tandem.Engine.Tokenization;
using Tandem.Serving;

namespace Tandem.Server.Generation;

/// <summary>
/// What differs between /v1/completions and /v1/chat/completions: object names, id prefix, and how a choice, a
/// streamed delta and log-probabilities are written. The envelope and the streaming loop are shared (<see cref="ChoiceResponder"/>).
/// </summary>
internal abstract class ChoiceFormat(Tokenizer tokenizer)
{
    protected Tokenizer Tokenizer { get; } = tokenizer;

    public abstract string IdPrefix { get; }
    public abstract string ResponseObject { get; }
    public abstract string ChunkObject { get; }

    /// <summary>One whole choice of a non-streamed response.</summary>
    public abstract void WriteChoice(Utf8JsonWriter w, ChoiceResult choice, bool logProbs, bool timeline);

    /// <summary>
    /// The first chunk of a choice, before any token (chat announces the role; completions send the echoed prompt);
    /// false when there is none.
    /// </summary>
    public virtual bool WriteOpening(Utf8JsonWriter w, int index, string? echo) => false;

    /// <summary>A chunk's choice carrying new text and, when asked, the log-probabilities of the tokens behind it.</summary>
    public abstract void WriteDelta(Utf8JsonWriter w, int index, string text, ReadOnlySpan<TokenOutput> tokens, bool logProbs, ref int textOffset);

    /// <summary>The last chunk of a choice: its finish reason (and timeline, when asked).</summary>
    public abstract void WriteFinish(Utf8JsonWriter w, int index, RequestOutcome outcome, bool timeline);

    /// <summary>
    /// vLLM's <c>stop_reason</c>: the stop string that ended the choice, or the stop token's id; null when it ended at
    /// end-of-sequence, at max_tokens, or was cut.
    /// </summary>
    protected static void WriteStopReason(Utf8JsonWriter w, RequestOutcome? outcome)
    {
        if (outcome?.StopString is { } stop)
            w.WriteString("stop_reason", stop);
        else if (outcome?.StopTokenId is int token)
            w.WriteNumber("stop_reason", token);
        else
            w.WriteNull("stop_reason");
    }

    /// <summary>A token's own text: its bytes as UTF-8 (a piece holding part of a character shows U+FFFD).</summary>
    protected string TokenString(int id) => Encoding.UTF8.GetString(Tokenizer.TokenBytes(id));

    protected byte[] TokenBytes(int id) => Tokenizer.TokenBytes(id);
}
