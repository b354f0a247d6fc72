using System.Runtime.InteropServices;
using Tandem.Engine.Model;
using Tandem.Engine.Sampling;
using Tandem.Serving.Scheduling;

namespace Tandem.Serving.Instances;

/// <summary>A token sampled in a step, before the output processor decides what it means.</summary>
internal readonly record struct SampledToken(Request Request, int TokenId, TokenLogProb LogProb);

/// <summary>
/// Executes a <see cref="SchedulerOutput"/> (vLLM's model runner): flattens the scheduled chunks into one
/// <see cref="ForwardBatch"/>, runs the transformer, and samples a token for every chunk that reaches the
/// end of its request. Reuses its batch and logits buffers across steps.
/// </summary>
internal sealed class ModelRunner : IDisposable
{
    private readonly Transformer _transformer;
    private readonly ForwardBatch _batch = new();
    private readonly List<SampledToken> _sampled = [];
    private readonly int _vocab;
    private float[] _logits;
    private long _tokensComputed; // written by the instance's loop only, read by Snapshot() from any thread
    private readonly StepRecorder? _recorder;

    public ModelRunner(Transformer transformer, StepRecorder? recorder = null)
    {
        _transformer = transformer;
        _recorder = recorder;
        _vocab = transformer.Config.VocabSize;
        _logits = new float[_vocab * 8];
    }

    public Transformer Transformer => _transformer;

    /// <summary>Tokens run through the model so far (every scheduled chunk's tokens): the instance's cumulative work.</summary>
    public long TokensComputed => Volatile.Read(ref _tokensComputed);

    /// <summary>Runs the step; the returned list is valid until the next call.</summary>
    // A List, not an interface: the loops' foreach over it then takes the struct enumerator instead of boxing one per step.
    public List<SampledToken> Execute(SchedulerOutput output, PagedKvCacheManager kv)
    {
        _sampled.Clear();
        if (output.Scheduled.Count == 0) return _sampled;
        _batch.Clear();
        foreach (var c in output.Scheduled)
        {
            var r = c.Request;
            var seq = kv.Sequence(r);
            if (seq.Length != r.NumComputedTokens)
                throw new InvalidOperationException($"request {r.RequestId}: KV holds {seq.Length} tokens, scheduler counts {r.NumComputedTokens}");
            _batch.Add(seq, CollectionsMarshal.AsSpan(r.AllTokenIdList).Slice(r.NumComputedTokens, c.NumTokens), c.SamplesToken);
        }
        int rows = _batch.LogitRows;
        if (_logits.Length < rows * _vocab) _logits = new float[Math.Max(rows, _logits.Length / _vocab * 2) * _vocab];
        _recorder?.ForwardStarting();
        _transformer.Forward(_batch, _logits);
        _recorder?.ForwardEnded();
        Volatile.Write(ref _tokensComputed, _tokensComputed + output.TotalTokens);
        // Blocks the step filled join the prefix cache (a no-op per request when none did, or when caching is off).
        for (int e = 0; e < output.Scheduled.Count; e++) kv.CacheComputedBlocks(output.Scheduled[e].Request, _batch.Sequence(e));

        int row = 0;
        foreach (var c in output.Scheduled)
        {
            if (!c.SamplesToken) continue;
            var r = c.Request;
            var stream = r.Stream!;
            int id = stream.Sampler.Sample(_logits.AsSpan(row++ * _vocab, _vocab), CollectionsMarshal.AsSpan(r.AllTokenIdList),
                stream.TopLogProbs, out var chosen);
            _sampled.Add(new SampledToken(r, id, chosen));
        }
        return _sampled;
    }

    public void Dispose() => _transformer.Dispose();
}
