using System.Diagnostics;
using System.Text;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Engine.Sampling;
using Tandem.Engine.Structured;
using Tandem.Engine.Tokenization;

namespace Tandem.Engine.Generation;

/// <summary>
/// Single-sequence generation: prefill the prompt, then sample one token per step until a limit, an
/// end-of-generation token or a stop string. Text is streamed through a UTF-8-safe decoder and a stop
/// string matcher, so what the callback receives is exactly the final text, piece by piece.
/// </summary>
public sealed class TextGenerator
{
    private readonly Transformer _transformer;
    private readonly Tokenizer _tokenizer;
    private readonly float[] _logits;

    public TextGenerator(Transformer transformer, Tokenizer tokenizer)
    {
        _transformer = transformer;
        _tokenizer = tokenizer;
        _logits = new float[transformer.Config.VocabSize];
    }

    public Tokenizer Tokenizer => _tokenizer;

    /// <param name="prompt">Prompt token ids (BOS included when wanted).</param>
    /// <param name="onToken">Called for every generated token, in order.</param>
    public GenerationResult Generate(ReadOnlySpan<int> prompt, GenerationOptions options,
        Action<GeneratedToken>? onToken = null, CancellationToken cancellation = default)
    {
        if (prompt.IsEmpty) throw new ArgumentException("the prompt has no tokens", nameof(prompt));
        if (options.MaxTokens < 0) throw new ArgumentOutOfRangeException(nameof(options), options.MaxTokens, "MaxTokens must not be negative");
        int capacity = Math.Min(_transformer.MaxContext, prompt.Length + options.MaxTokens);
        if (prompt.Length >= _transformer.MaxContext)
            throw new ContextOverflowException(prompt.Length + 1, _transformer.MaxContext);

        using KvSequence sequence = _transformer.CreateCache(capacity);
        var sampler = new Sampler(options.Sampling, _transformer.Config.VocabSize);
        var constraint = options.StructuredOutput is { } grammar ? new JsonConstraint(grammar, _tokenizer.Vocabulary) : null;
        sampler.Constraint = constraint;
        var decoder = new StreamingDecoder(_tokenizer);
        var stop = new StopStringMatcher(options.Stop);
        var text = new StringBuilder();
        var tokens = new List<int>(options.MaxTokens);
        var history = new List<int>(prompt.Length + options.MaxTokens);
        history.AddRange(prompt);
        int topN = sampler.TopLogProbCount;
        var top = topN > 0 ? new TokenLogProb[topN] : [];

        long t0 = Stopwatch.GetTimestamp();
        _transformer.Forward(prompt, sequence, _logits);
        var prefill = Stopwatch.GetElapsedTime(t0);
        long t1 = Stopwatch.GetTimestamp();

        var finish = FinishReason.Length;
        for (int i = 0; i < options.MaxTokens; i++)
        {
            if (cancellation.IsCancellationRequested) { finish = FinishReason.Cancelled; break; }
            int id = sampler.Sample(_logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(history), top, out var chosen);
            constraint?.Accept(id);
            bool end = !options.IgnoreEos && _tokenizer.IsEndOfGeneration(id);
            if (end)
            {
                // A constrained output that can go no further (a vocabulary without a byte it needs) is cut, not done.
                finish = constraint is { IsComplete: false } ? FinishReason.Length : FinishReason.Stop;
                break;
            }
            tokens.Add(id);
            history.Add(id);
            string released = stop.Append(decoder.Add(id)).ToString();
            text.Append(released);
            onToken?.Invoke(new GeneratedToken(id, released, chosen, topN > 0 ? (TokenLogProb[])top.Clone() : null));
            if (stop.IsStopped)
            {
                finish = FinishReason.Stop;
                break;
            }
            if (i + 1 == options.MaxTokens) break;
            if (sequence.Length + 1 > capacity) break; // context full: finish as "length"
            _transformer.Forward([id], sequence, _logits);
        }
        var decode = Stopwatch.GetElapsedTime(t1);

        if (!stop.IsStopped && finish != FinishReason.Cancelled)
        {
            // Whatever the decoder and the matcher still hold is final text now.
            string rest = stop.Append(decoder.Flush()).ToString() + stop.Flush().ToString();
            if (rest.Length > 0)
            {
                text.Append(rest);
                onToken?.Invoke(new GeneratedToken(-1, rest, default, null));
            }
        }

        return new GenerationResult
        {
            Text = text.ToString(),
            Tokens = tokens,
            PromptTokens = prompt.Length,
            FinishReason = finish,
            StopString = stop.MatchedStopString,
            PrefillTime = prefill,
            DecodeTime = decode,
        };
    }
}
