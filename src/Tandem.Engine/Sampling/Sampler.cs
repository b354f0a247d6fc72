using System.Numerics.Tensors;

namespace Tandem.Engine.Sampling;

/// <summary>
/// Chooses the next token from a row of logits. Stages run in llama.cpp's common-sampler order: logit bias, penalties,
/// top-k, top-p, min-p, temperature, then a draw from the softmax with a seeded generator. Temperature 0 or
/// below is greedy: the argmax of the penalised logits.
/// </summary>
/// <remarks>
/// One sampler serves one sequence and is not thread safe. Its vocabulary-sized buffers are the calling thread's
/// (<see cref="SamplerScratch"/>), allocated once per thread, so sampling a token allocates nothing and a sampler is small. Filters only order what they must: top-k keeps a
/// k-entry heap, and top-p, when nothing sorted the candidates, pops a heap only until the kept mass is reached.
/// Ties in logit rank the lower token id first everywhere, so results never depend on sort stability.
/// </remarks>
public sealed class Sampler
{
    // The calling thread's working arrays (SamplerScratch), taken at each entry point: candidates, probabilities, raw
    // logits, penalty counts. A sampler owns no vocabulary-sized array, so a request waiting in a queue costs little.
    private SamplerScratch _s = null!;
    // The candidate set is _s.Ids / _s.Logits, positions [0, _count).
    private int _count;
    // True when the candidates are in descending logit order (ties: lower id first).
    private bool _sorted;

    private Xoshiro256StarStar _rng;

    public Sampler(SamplingParams parameters, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (vocabSize < 1)
            throw new ArgumentOutOfRangeException(nameof(vocabSize), $"vocabSize must be at least 1; got {vocabSize}.");
        Params = parameters;
        VocabSize = vocabSize;
        Seed = parameters.Seed ?? unchecked((ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue));
        _rng = new Xoshiro256StarStar(Seed);

        if (parameters.LogitBias is { } bias)
        {
            _biasIds = new int[bias.Count];
            _biasValues = new float[bias.Count];
            int i = 0;
            foreach (var (token, value) in bias.OrderBy(b => b.Key))
            {
                if ((uint)token >= (uint)vocabSize)
                    throw new ArgumentOutOfRangeException(nameof(SamplingParams.LogitBias), $"LogitBias names token {token}, outside the vocabulary (0 to {vocabSize - 1}).");
                _biasIds[i] = token;
                _biasValues[i++] = value;
            }
        }
    }

    // logit_bias as two arrays (no dictionary walk, hence no allocation, per token); empty when off.
    private readonly int[] _biasIds = [];
    private readonly float[] _biasValues = [];

    public SamplingParams Params { get; }

    public int VocabSize { get; }

    /// <summary>The seed in use: <see cref="SamplingParams.Seed"/>, or the one drawn at random when that is null.</summary>
    public ulong Seed { get; }

    /// <summary>How many alternatives the log-probability overload of <see cref="Sample(Span{float}, ReadOnlySpan{int}, Span{TokenLogProb}, out TokenLogProb)"/> writes.</summary>
    public int TopLogProbCount => Math.Min(Params.LogProbs, VocabSize);

    /// <summary>
    /// The random generator where it stands now: read after a token to continue the same stream in another
    /// sampler (another process), set before the next token there.
    /// </summary>
    public Xoshiro256StarStar RandomState
    {
        get => _rng;
        set => _rng = value;
    }

    /// <summary>
    /// Which tokens may come next (structured output), applied to the logits before every other stage; null: any.
    /// The caller advances it with each token it keeps.
    /// </summary>
    public ITokenConstraint? Constraint { get; set; }

    /// <summary>Restarts the random sequence from <see cref="Seed"/>, so the same inputs give the same tokens again.</summary>
    public void Reset() => _rng = new Xoshiro256StarStar(Seed);

    /// <summary>
    /// Chooses a token. <paramref name="logits"/> (one per vocabulary entry) is modified: the constraint's mask and
    /// penalties are applied to it in place. <paramref name="previousTokens"/> is the sequence so far, oldest first; the penalties look
    /// at its last <see cref="SamplingParams.PenaltyLastN"/> tokens.
    /// </summary>
    public int Sample(Span<float> logits, ReadOnlySpan<int> previousTokens)
    {
        CheckLogits(logits);
        _s = SamplerScratch.For(VocabSize);
        for (int i = 0; i < _biasIds.Length; i++)
            logits[_biasIds[i]] += _biasValues[i];
        Constraint?.MaskLogits(logits);
        ApplyPenalties(logits, previousTokens);
        if (Params.IsGreedy)
            return ArgMax(logits);
        Truncate(logits);
        return Draw();
    }

    /// <summary>
    /// Chooses a token as <see cref="Sample(Span{float}, ReadOnlySpan{int})"/> does, and reports log-probabilities:
    /// the chosen token's in <paramref name="chosen"/>, and the <see cref="TopLogProbCount"/> most likely tokens,
    /// most likely first, in the start of <paramref name="topLogProbs"/>.
    /// </summary>
    /// <remarks>
    /// Log-probabilities are the log-softmax of the logits as given, before penalties, temperature and
    /// truncation (and before a <see cref="Constraint"/> masks tokens): the model's own distribution, as the OpenAI
    /// API and llama.cpp's server report them by default.
    /// A token removed by top-k can therefore still appear among the alternatives, and the chosen token's value
    /// does not depend on the sampling settings.
    /// </remarks>
    public int Sample(Span<float> logits, ReadOnlySpan<int> previousTokens, Span<TokenLogProb> topLogProbs, out TokenLogProb chosen)
    {
        CheckLogits(logits);
        int topCount = TopLogProbCount;
        if (topLogProbs.Length < topCount)
            throw new ArgumentException($"topLogProbs must hold at least {topCount} entries (SamplingParams.LogProbs); it holds {topLogProbs.Length}.", nameof(topLogProbs));
        _s = SamplerScratch.For(VocabSize);
        Span<float> raw = _s.RawLogits.AsSpan(0, VocabSize);
        logits.CopyTo(raw);
        float logSumExp = LogProbabilities.LogSumExp(raw, _s.Probs.AsSpan(0, VocabSize));
        LogProbabilities.SelectTop(raw, logSumExp, topLogProbs[..topCount]);
        int token = Sample(logits, previousTokens);
        chosen = new TokenLogProb(token, raw[token] - logSumExp);
        return token;
    }

    /// <summary>The candidates left by the last <see cref="Truncate"/>: their ids and logits.</summary>
    internal ReadOnlySpan<int> CandidateIds => _s.Ids.AsSpan(0, _count);

    internal ReadOnlySpan<float> CandidateLogits => _s.Logits.AsSpan(0, _count);

    /// <summary>
    /// Applies the penalties, exactly as llama.cpp's penalties sampler does. The repetition penalty divides a
    /// positive logit and multiplies a non-positive one (dividing a negative logit would raise the token's
    /// chance); then presence and frequency penalties subtract <c>count * frequency + presence</c>, all in float.
    /// </summary>
    internal void ApplyPenalties(Span<float> logits, ReadOnlySpan<int> previousTokens)
    {
        SamplingParams p = Params;
        if (!p.HasPenalties || previousTokens.IsEmpty)
            return;
        ReadOnlySpan<int> window = p.PenaltyLastN < 0 || p.PenaltyLastN >= previousTokens.Length
            ? previousTokens
            : previousTokens[^p.PenaltyLastN..];
        foreach (int token in window)
        {
            if ((uint)token >= (uint)VocabSize)
                throw new ArgumentOutOfRangeException(nameof(previousTokens), $"previousTokens holds token {token}, outside the vocabulary [0, {VocabSize}).");
        }

        _s = SamplerScratch.For(VocabSize);
        int[] counts = _s.TokenCounts;
        foreach (int token in window)
            counts[token]++;
        float repetition = p.RepetitionPenalty, frequency = p.FrequencyPenalty, presence = p.PresencePenalty;
        foreach (int token in window)
        {
            int count = counts[token];
            if (count == 0)
                continue; // a repeat of a token already penalised
            counts[token] = 0;
            float logit = logits[token];
            logit = logit <= 0f ? logit * repetition : logit / repetition;
            logit -= count * frequency + presence;
            logits[token] = logit;
        }
    }

    /// <summary>The first index of the largest logit, as llama.cpp's greedy sampler picks it.</summary>
    internal static int ArgMax(ReadOnlySpan<float> logits)
    {
        float max = TensorPrimitives.Max(logits);
        for (int i = 0; i < logits.Length; i++)
        {
            if (logits[i] == max)
                return i;
        }
        // A NaN made Max NaN: fall back to llama.cpp's strictly-greater scan.
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
                best = i;
        }
        return best;
    }

    /// <summary>Loads the penalised logits as candidates and applies top-k, top-p and min-p to them.</summary>
    internal void Truncate(ReadOnlySpan<float> logits)
    {
        _s = SamplerScratch.For(VocabSize);
        int k = Params.TopK;
        if (k > 0 && k < VocabSize)
        {
            SelectTopK(logits, k);
        }
        else
        {
            logits.CopyTo(_s.Logits);
            for (int i = 0; i < logits.Length; i++)
                _s.Ids[i] = i;
            _count = logits.Length;
            _sorted = false;
        }
        ApplyTopP();
        ApplyMinP();
    }

    /// <summary>Keeps the k best candidates, sorted: a k-entry heap with the worst kept entry at the root.</summary>
    private void SelectTopK(ReadOnlySpan<float> logits, int k)
    {
        Span<int> ids = _s.Ids.AsSpan(0, k);
        Span<float> values = _s.Logits.AsSpan(0, k);
        for (int i = 0; i < k; i++)
        {
            ids[i] = i;
            values[i] = logits[i];
        }
        for (int i = k / 2 - 1; i >= 0; i--)
            SiftDownWorstFirst(ids, values, i, k);
        for (int i = k; i < logits.Length; i++)
        {
            // Ids arrive in increasing order, so an equal logit loses to the kept (lower) id: strict > suffices.
            if (logits[i] > values[0])
            {
                ids[0] = i;
                values[0] = logits[i];
                SiftDownWorstFirst(ids, values, 0, k);
            }
        }
        for (int end = k - 1; end > 0; end--)
        {
            (ids[0], ids[end]) = (ids[end], ids[0]);
            (values[0], values[end]) = (values[end], values[0]);
            SiftDownWorstFirst(ids, values, 0, end);
        }
        _count = k;
        _sorted = true;
    }

    /// <summary>
    /// Keeps the most likely candidates until their probability (softmax at temperature 1, since llama.cpp
    /// applies temperature later) sums to at least TopP, in float as llama.cpp does; at least one is kept.
    /// </summary>
    private void ApplyTopP()
    {
        float topP = Params.TopP;
        if (topP >= 1f)
            return;
        int n = _count;
        Span<float> logits = _s.Logits.AsSpan(0, n);
        Span<float> probs = _s.Probs.AsSpan(0, n);
        float max = _sorted ? logits[0] : TensorPrimitives.Max(logits);
        TensorPrimitives.Subtract(logits, max, probs);
        TensorPrimitives.Exp(probs, probs);
        TensorPrimitives.Divide(probs, TensorPrimitives.Sum(probs), probs);

        float cumulative = 0f;
        if (_sorted)
        {
            for (int i = 0; i < n; i++)
            {
                cumulative += probs[i];
                if (cumulative >= topP)
                {
                    _count = i + 1;
                    return;
                }
            }
            return;
        }

        // Unsorted: heapify positions (linear time) and pop best-first only as far as the mass requires.
        Span<int> heap = _s.Heap.AsSpan(0, n);
        Span<int> ids = _s.Ids.AsSpan(0, n);
        for (int i = 0; i < n; i++)
            heap[i] = i;
        for (int i = n / 2 - 1; i >= 0; i--)
            SiftDownBestFirst(heap, ids, logits, i, n);
        int[] keptIds = _s.SpareIds;
        float[] keptLogits = _s.SpareLogits;
        int kept = 0, size = n;
        while (size > 0)
        {
            int position = heap[0];
            keptIds[kept] = ids[position];
            keptLogits[kept] = logits[position];
            kept++;
            cumulative += probs[position];
            if (cumulative >= topP)
                break;
            heap[0] = heap[--size];
            SiftDownBestFirst(heap, ids, logits, 0, size);
        }
        (_s.Ids, _s.SpareIds) = (keptIds, _s.Ids);
        (_s.Logits, _s.SpareLogits) = (keptLogits, _s.Logits);
        _count = kept;
        _sorted = true;
    }

    /// <summary>
    /// Drops candidates whose probability is below MinP times the largest, tested on logits as llama.cpp does:
    /// <c>logit &gt;= maxLogit + log(MinP)</c>. Keeps the order, so sorted candidates stay sorted.
    /// </summary>
    private void ApplyMinP()
    {
        float minP = Params.MinP;
        if (minP <= 0f || _count == 0)
            return;
        Span<int> ids = _s.Ids.AsSpan(0, _count);
        Span<float> logits = _s.Logits.AsSpan(0, _count);
        float max = _sorted ? logits[0] : TensorPrimitives.Max(logits);
        float minLogit = max + MathF.Log(minP);
        int kept = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            if (logits[i] >= minLogit)
            {
                ids[kept] = ids[i];
                logits[kept] = logits[i];
                kept++;
            }
        }
        _count = kept;
    }

    /// <summary>
    /// Divides the candidates' logits by the temperature and draws from their softmax. The running sum is in
    /// double and in candidate order, the same order as the total, so the draw is exact for the float
    /// probabilities and depends only on the seed and the candidates.
    /// </summary>
    private int Draw()
    {
        int n = _count;
        if (n == 1)
            return _s.Ids[0];
        Span<float> weights = _s.Probs.AsSpan(0, n);
        // llama.cpp divides the logits by the temperature, then subtracts the (divided) maximum.
        TensorPrimitives.Divide(_s.Logits.AsSpan(0, n), Params.Temperature, weights);
        float max = _sorted ? weights[0] : TensorPrimitives.Max(weights);
        TensorPrimitives.Subtract(weights, max, weights);
        TensorPrimitives.Exp(weights, weights);
        double total = 0;
        foreach (float w in weights)
            total += w;
        // A temperature so small that the divided logits overflow leaves no usable weights: its limit is greedy.
        if (!(total > 0))
            return BestCandidate();
        double target = _rng.NextDouble() * total;
        double cumulative = 0;
        for (int i = 0; i < n; i++)
        {
            cumulative += weights[i];
            if (cumulative > target)
                return _s.Ids[i];
        }
        // Reached only when rounding put the target at the total: the last candidate that has any weight.
        for (int i = n - 1; i > 0; i--)
        {
            if (weights[i] > 0f)
                return _s.Ids[i];
        }
        return _s.Ids[0];
    }

    private int BestCandidate()
    {
        if (_sorted)
            return _s.Ids[0];
        int best = 0;
        for (int i = 1; i < _count; i++)
        {
            if (IsBetter(_s.Ids[i], _s.Logits[i], _s.Ids[best], _s.Logits[best]))
                best = i;
        }
        return _s.Ids[best];
    }

    private void CheckLogits(ReadOnlySpan<float> logits)
    {
        if (logits.Length != VocabSize)
            throw new ArgumentException($"logits must hold one value per vocabulary entry ({VocabSize}); it holds {logits.Length}.", nameof(logits));
    }

    private static bool IsBetter(int idA, float logitA, int idB, float logitB) =>
        logitA > logitB || (logitA == logitB && idA < idB);

    private static void SiftDownWorstFirst(Span<int> ids, Span<float> logits, int i, int n)
    {
        while (true)
        {
            int worst = i, left = 2 * i + 1, right = left + 1;
            if (left < n && IsBetter(ids[worst], logits[worst], ids[left], logits[left])) worst = left;
            if (right < n && IsBetter(ids[worst], logits[worst], ids[right], logits[right])) worst = right;
            if (worst == i)
                return;
            (ids[i], ids[worst]) = (ids[worst], ids[i]);
            (logits[i], logits[worst]) = (logits[worst], logits[i]);
            i = worst;
        }
    }

    private static void SiftDownBestFirst(Span<int> heap, ReadOnlySpan<int> ids, ReadOnlySpan<float> logits, int i, int n)
    {
        int item = heap[i];
        int itemId = ids[item];
        float itemLogit = logits[item];
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= n)
                break;
            int right = child + 1;
            if (right < n && IsBetter(ids[heap[right]], logits[heap[right]], ids[heap[child]], logits[heap[child]]))
                child = right;
            int c = heap[child];
            if (!IsBetter(ids[c], logits[c], itemId, itemLogit))
                break;
            heap[i] = c;
            i = child;
        }
        heap[i] = item;
    }
}
