using Tandem.Engine.Sampling;

namespace Tandem.Engine.Tests.Sampling;

public class SamplerTests
{
    private static float[] RandomLogits(int vocab, int seed, float scale = 3f)
    {
        var random = new Random(seed);
        var logits = new float[vocab];
        for (int i = 0; i < vocab; i++)
            logits[i] = (float)((random.NextDouble() * 2 - 1) * scale);
        return logits;
    }

    private static float[] LogitsOfProbabilities(params double[] probabilities) =>
        [.. probabilities.Select(p => (float)Math.Log(p))];

    private static int[] Kept(SamplingParams parameters, float[] logits)
    {
        var sampler = new Sampler(parameters, logits.Length);
        sampler.Truncate(logits);
        AssertDescending(sampler);
        return [.. sampler.CandidateIds.ToArray().Order()];
    }

    private static void AssertDescending(Sampler sampler)
    {
        // Whatever path produced them, kept candidates either stay in id order (no sorting needed) or are sorted.
        ReadOnlySpan<float> values = sampler.CandidateLogits;
        ReadOnlySpan<int> ids = sampler.CandidateIds;
        bool idOrder = true, descending = true;
        for (int i = 1; i < ids.Length; i++)
        {
            idOrder &= ids[i] > ids[i - 1];
            descending &= values[i] < values[i - 1] || (values[i] == values[i - 1] && ids[i] > ids[i - 1]);
        }
        Assert.True(idOrder || descending);
    }

    [Fact]
    public void Greedy_IsArgmax()
    {
        var sampler = new Sampler(SamplingParams.Greedy, 5000);
        for (int row = 0; row < 20; row++)
        {
            float[] logits = RandomLogits(5000, row);
            int expected = Array.IndexOf(logits, logits.Max());
            Assert.Equal(expected, sampler.Sample(logits, []));
        }
    }

    [Fact]
    public void Greedy_TieGoesToLowestId()
    {
        var sampler = new Sampler(new SamplingParams { Temperature = 0f }, 6);
        Assert.Equal(2, sampler.Sample(new float[] { 1f, 0f, 3f, -2f, 3f, 3f }, []));
        // -0 and +0 compare equal, so the first of them wins, as in llama.cpp's strictly-greater scan.
        Assert.Equal(0, sampler.Sample(new float[] { -0f, 0f, -1f, -0f, 0f, -5f }, []));
    }

    [Fact]
    public void Greedy_UsesPenalisedLogits()
    {
        var parameters = new SamplingParams { Temperature = 0f, RepetitionPenalty = 2f };
        var sampler = new Sampler(parameters, 3);
        // 3 / 2 = 1.5 < 2: the repeated token loses its lead.
        Assert.Equal(1, sampler.Sample(new float[] { 3f, 2f, 0f }, [0]));
        Assert.Equal(0, sampler.Sample(new float[] { 3f, 2f, 0f }, [2]));
    }

    [Fact]
    public void TopK1_IsGreedy()
    {
        var parameters = new SamplingParams { TopK = 1, Temperature = 1.5f, Seed = 9 };
        var sampler = new Sampler(parameters, 3000);
        for (int row = 0; row < 20; row++)
        {
            float[] logits = RandomLogits(3000, 100 + row);
            Assert.Equal(Array.IndexOf(logits, logits.Max()), sampler.Sample(logits, []));
        }
    }

    [Fact]
    public void OverflowingTemperature_FallsBackToTheBestCandidate()
    {
        // 4 / 1e-38 and 5 / 1e-38 overflow to infinity, so the tempered softmax is undefined; its limit is greedy.
        var sampler = new Sampler(new SamplingParams { Temperature = 1e-38f, Seed = 4 }, 4);
        for (int i = 0; i < 10; i++)
            Assert.Equal(2, sampler.Sample(new float[] { 0f, 4f, 5f, 1f }, []));
    }

    [Fact]
    public void SameSeed_SameSequence_DifferentSeed_DifferentSequence()
    {
        float[] logits = RandomLogits(200, 5, scale: 1f);
        int[] Run(ulong seed)
        {
            var sampler = new Sampler(new SamplingParams { Seed = seed, TopP = 0.95f, TopK = 50 }, logits.Length);
            return [.. Enumerable.Range(0, 300).Select(_ => sampler.Sample((float[])logits.Clone(), []))];
        }
        Assert.Equal(Run(123), Run(123));
        Assert.NotEqual(Run(123), Run(124));
    }

    [Fact]
    public void Reset_ReplaysTheSequence()
    {
        float[] logits = RandomLogits(100, 6, scale: 1f);
        var sampler = new Sampler(new SamplingParams { Seed = 77 }, logits.Length);
        int[] first = [.. Enumerable.Range(0, 100).Select(_ => sampler.Sample((float[])logits.Clone(), []))];
        sampler.Reset();
        int[] second = [.. Enumerable.Range(0, 100).Select(_ => sampler.Sample((float[])logits.Clone(), []))];
        Assert.Equal(first, second);
        Assert.Equal(77UL, sampler.Seed);
    }

    [Fact]
    public void NullSeed_DrawsASeed()
    {
        var a = new Sampler(SamplingParams.Default, 10);
        var b = new Sampler(SamplingParams.Default, 10);
        Assert.NotEqual(a.Seed, b.Seed);
    }

    // Pinned from an independent Python model of the draw (xoshiro256** double, target = u * total weight, first
    // candidate whose running weight exceeds it, candidates in id order); every draw is at least 0.3% of the mass
    // away from a boundary, so float-versus-double exponentials cannot change it.
    [Fact]
    public void Seed42_GivesThePinnedSequence()
    {
        float[] logits = [0.5f, 1f, 2f, 3f, -1f];
        var sampler = new Sampler(new SamplingParams { Seed = 42 }, logits.Length);
        int[] drawn = [.. Enumerable.Range(0, 16).Select(_ => sampler.Sample((float[])logits.Clone(), []))];
        Assert.Equal([1, 3, 3, 3, 4, 3, 3, 3, 3, 3, 3, 2, 3, 2, 3, 3], drawn);
    }

    /// <summary>Pearson chi-square of observed counts against expected probabilities.</summary>
    private static double ChiSquare(int[] counts, double[] expected, int draws)
    {
        double chi = 0;
        for (int i = 0; i < counts.Length; i++)
        {
            if (expected[i] == 0)
            {
                Assert.Equal(0, counts[i]);
                continue;
            }
            double e = expected[i] * draws;
            chi += (counts[i] - e) * (counts[i] - e) / e;
        }
        return chi;
    }

    private static double[] Softmax(IReadOnlyList<float> logits, float temperature, Func<int, bool> kept)
    {
        double max = Enumerable.Range(0, logits.Count).Where(kept).Max(i => (double)logits[i]);
        double[] p = [.. Enumerable.Range(0, logits.Count).Select(i => kept(i) ? Math.Exp((logits[i] - max) / temperature) : 0.0)];
        double sum = p.Sum();
        return [.. p.Select(x => x / sum)];
    }

    private static int[] Histogram(Sampler sampler, float[] logits, int draws)
    {
        var counts = new int[logits.Length];
        var buffer = new float[logits.Length];
        for (int i = 0; i < draws; i++)
        {
            logits.CopyTo(buffer, 0);
            counts[sampler.Sample(buffer, [])]++;
        }
        return counts;
    }

    [Fact]
    public void Frequencies_MatchSoftmax()
    {
        float[] logits = [1f, 2f, 0.5f, -1f, 3f, 0f, 1.5f, -0.5f];
        const int draws = 20000;
        int[] counts = Histogram(new Sampler(new SamplingParams { Seed = 2024 }, logits.Length), logits, draws);
        // 7 degrees of freedom: 24.32 is the 0.1% critical value.
        Assert.InRange(ChiSquare(counts, Softmax(logits, 1f, _ => true), draws), 0, 24.32);
    }

    [Fact]
    public void Frequencies_MatchTemperedSoftmaxOverTopK()
    {
        float[] logits = [1f, 2f, 0.5f, -1f, 3f, 0f, 1.5f, -0.5f];
        const int draws = 20000;
        var parameters = new SamplingParams { Seed = 11, TopK = 4, Temperature = 0.7f };
        int[] counts = Histogram(new Sampler(parameters, logits.Length), logits, draws);
        var top4 = new HashSet<int> { 4, 1, 6, 0 };
        // 3 degrees of freedom: 16.27 is the 0.1% critical value.
        Assert.InRange(ChiSquare(counts, Softmax(logits, 0.7f, top4.Contains), draws), 0, 16.27);
    }

    [Fact]
    public void Frequencies_MatchSoftmaxOverTopPAndMinPSet_OnALargeVocabulary()
    {
        // Top-p and min-p over a 5000-token vocabulary through the heap path, then a hot temperature.
        float[] logits = RandomLogits(5000, 31, scale: 1f);
        for (int i = 0; i < 6; i++)
            logits[i * 800] = 6f - i * 0.4f;
        var parameters = new SamplingParams { Seed = 5, TopP = 0.3f, MinP = 0.25f, Temperature = 1.3f };
        int[] keptSet = Kept(parameters, logits);
        Assert.Equal([0, 800, 1600, 2400], keptSet);
        const int draws = 20000;
        int[] counts = Histogram(new Sampler(parameters, logits.Length), logits, draws);
        double[] expected = Softmax(logits, 1.3f, i => keptSet.Contains(i));
        // Critical values at 0.1% for 1..9 degrees of freedom.
        double[] critical = [10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88];
        Assert.InRange(ChiSquare(counts, expected, draws), 0, critical[keptSet.Length - 2]);
    }

    [Theory]
    [InlineData(0)]  // unsorted candidates: the heap path
    [InlineData(5)]  // top-k as large as the vocabulary is off: the heap path too
    [InlineData(4)]  // top-k sorted the candidates: the sorted path
    public void TopP_KeepsSmallestSetReachingP(int topK)
    {
        float[] logits = LogitsOfProbabilities(0.05, 0.4, 0.1, 0.3, 0.15);
        SamplingParams With(float p) => new() { TopP = p, TopK = topK };
        Assert.Equal([1], Kept(With(0f), logits));
        Assert.Equal([1], Kept(With(0.35f), logits));
        Assert.Equal([1, 3], Kept(With(0.65f), logits));
        Assert.Equal([1, 3, 4], Kept(With(0.75f), logits));
        Assert.Equal([1, 2, 3, 4], Kept(With(0.9f), logits));
        int[] all = topK == 4 ? [1, 2, 3, 4] : [0, 1, 2, 3, 4];
        Assert.Equal(all, Kept(With(1f), logits));
        Assert.Equal(all, Kept(With(0.999f), logits));
    }

    [Fact]
    public void TopP_RunsOnTheTopKSet()
    {
        // After top-k = 2 the kept probabilities are 0.4/0.7 and 0.3/0.7, so 0.5 is reached by the first alone.
        float[] logits = LogitsOfProbabilities(0.05, 0.4, 0.1, 0.3, 0.15);
        Assert.Equal([1], Kept(new SamplingParams { TopK = 2, TopP = 0.5f }, logits));
        Assert.Equal([1, 3], Kept(new SamplingParams { TopP = 0.5f }, logits));
    }

    [Theory]
    [InlineData(0.1f, 0)]
    [InlineData(0.5f, 0)]
    [InlineData(0.9f, 0)]
    [InlineData(0.99f, 0)]
    [InlineData(0.5f, 100)]
    [InlineData(0.95f, 100)]
    public void TopP_MatchesFullSortReference_OnALargeVocabulary(float p, int topK)
    {
        float[] logits = RandomLogits(4000, 77);
        int[] order = [.. Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ThenBy(i => i)];
        if (topK > 0)
            order = order[..topK];
        double max = logits[order[0]];
        double[] weights = [.. order.Select(i => Math.Exp(logits[i] - max))];
        double total = weights.Sum(), cumulative = 0;
        int keep = order.Length;
        for (int i = 0; i < order.Length; i++)
        {
            cumulative += weights[i] / total;
            if (cumulative >= p) { keep = i + 1; break; }
        }
        int[] expected = [.. order[..keep].Order()];
        Assert.Equal(expected, Kept(new SamplingParams { TopP = p, TopK = topK }, logits));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void MinP_KeepsTokensWithinFactorOfTheBest(int topK)
    {
        float[] logits = [0f, 2f, -1f, 1.9f, 5f, 3f, 2.7f, 4f];
        // log(0.1) = -2.3026: the threshold is 2.6974.
        Assert.Equal([4, 5, 6, 7], Kept(new SamplingParams { MinP = 0.1f, TopK = topK }, logits));
        // log(0.5) = -0.6931: the threshold is 4.3069.
        Assert.Equal([4], Kept(new SamplingParams { MinP = 0.5f, TopK = topK }, logits));
        // log(0.05) = -2.9957: the threshold is 2.0043.
        Assert.Equal([4, 5, 6, 7], Kept(new SamplingParams { MinP = 0.05f, TopK = topK }, logits));
        // log(0.04) = -3.2189: the threshold is 1.7811.
        Assert.Equal([1, 3, 4, 5, 6, 7], Kept(new SamplingParams { MinP = 0.04f, TopK = topK }, logits));
    }

    [Fact]
    public void MinP_One_KeepsOnlyTheMaximumAndItsTies()
    {
        float[] logits = [5f, 1f, 5f, 4.999f];
        Assert.Equal([0, 2], Kept(new SamplingParams { MinP = 1f }, logits));
    }

    [Fact]
    public void TopPThenMinP_AppliesBoth()
    {
        float[] logits = LogitsOfProbabilities(0.05, 0.4, 0.1, 0.3, 0.15);
        // Top-p 0.9 keeps {1,3,4,2}; min-p 0.3 then needs p >= 0.12, dropping token 2 (0.1).
        Assert.Equal([1, 3, 4], Kept(new SamplingParams { TopP = 0.9f, MinP = 0.3f }, logits));
    }

    [Fact]
    public void Penalties_ChangeLogitsExactlyAsDefined()
    {
        var parameters = new SamplingParams { RepetitionPenalty = 1.3f, FrequencyPenalty = 0.2f, PresencePenalty = 0.5f, PenaltyLastN = 6 };
        var sampler = new Sampler(parameters, 8);
        float[] logits = [2f, -1.5f, 0f, 3f, 0.5f, -0.25f, 1f, 4f];
        // Tokens 7 and 0 fall outside the last 6; in the window token 1 appears 3 times, 2, 3 and 5 once.
        int[] previous = [7, 0, 1, 2, 1, 3, 1, 5];
        for (int pass = 0; pass < 2; pass++) // a second pass shows the counts were cleared
        {
            float[] penalised = (float[])logits.Clone();
            sampler.ApplyPenalties(penalised, previous);
            float[] expected =
            [
                2f,
                -1.5f * 1.3f - (3 * 0.2f + 0.5f),
                0f * 1.3f - (1 * 0.2f + 0.5f),
                3f / 1.3f - (1 * 0.2f + 0.5f),
                0.5f,
                -0.25f * 1.3f - (1 * 0.2f + 0.5f),
                1f,
                4f,
            ];
            Assert.Equal(expected, penalised);
        }
    }

    [Fact]
    public void PresenceAndFrequency_AreOpenAiSubtractions()
    {
        var sampler = new Sampler(new SamplingParams { FrequencyPenalty = 0.75f, PresencePenalty = -0.5f, PenaltyLastN = -1 }, 4);
        float[] logits = [1f, 1f, -2f, 0.25f];
        sampler.ApplyPenalties(logits, [0, 0, 0, 2, 0]);
        Assert.Equal([1f - (4 * 0.75f - 0.5f), 1f, -2f - (0.75f - 0.5f), 0.25f], logits);
    }

    [Fact]
    public void PenaltyLastNZero_ChangesNothing()
    {
        var sampler = new Sampler(new SamplingParams { RepetitionPenalty = 2f, PresencePenalty = 1f, PenaltyLastN = 0 }, 3);
        float[] logits = [1f, -1f, 2f];
        sampler.ApplyPenalties(logits, [0, 1, 2]);
        Assert.Equal([1f, -1f, 2f], logits);
    }

    [Fact]
    public void LogProbs_AreRawLogSoftmax()
    {
        float[] logits = RandomLogits(300, 8);
        var parameters = new SamplingParams { LogProbs = 5, Seed = 3, Temperature = 0.5f, TopK = 10, RepetitionPenalty = 1.5f };
        var sampler = new Sampler(parameters, logits.Length);
        double max = logits.Max();
        double logSumExp = max + Math.Log(logits.Sum(l => Math.Exp(l - max)));
        int[] order = [.. Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ThenBy(i => i)];
        int[] previous = [order[0], order[1]];

        var top = new TokenLogProb[SamplingParams.MaxLogProbs];
        for (int draw = 0; draw < 20; draw++)
        {
            int token = sampler.Sample((float[])logits.Clone(), previous, top, out TokenLogProb chosen);
            Assert.Equal(token, chosen.TokenId);
            // Before penalties and temperature: the chosen value is the model's own log-probability.
            Assert.Equal(logits[token] - logSumExp, chosen.LogProb, 1e-5);
            for (int i = 0; i < 5; i++)
            {
                Assert.Equal(order[i], top[i].TokenId);
                Assert.Equal(logits[order[i]] - logSumExp, top[i].LogProb, 1e-5);
            }
            Assert.Equal(default, top[5]);
        }
    }

    [Fact]
    public void LogProbs_OverTheWholeVocabulary_SumToOne()
    {
        float[] logits = [3f, -2f, 0.5f, 0.5f, 10f, -30f, 1f, 2f];
        var sampler = new Sampler(new SamplingParams { LogProbs = 8, Temperature = 0f }, logits.Length);
        var top = new TokenLogProb[8];
        int token = sampler.Sample(logits, [], top, out TokenLogProb chosen);
        Assert.Equal(4, token);
        Assert.Equal(top[0], chosen);
        Assert.Equal(1.0, top.Sum(t => Math.Exp(t.LogProb)), 1e-6);
        Assert.Equal([4, 0, 7, 6, 2, 3, 1, 5], top.Select(t => t.TokenId));
        Assert.True(top.All(t => t.LogProb <= 0f));
    }

    [Fact]
    public void LogProbs_WithoutAlternatives_StillReportsChosen()
    {
        float[] logits = [0f, 0f];
        var sampler = new Sampler(new SamplingParams { Seed = 1 }, 2);
        sampler.Sample(logits, [], [], out TokenLogProb chosen);
        Assert.Equal(Math.Log(0.5), chosen.LogProb, 1e-6);
    }

    [Fact]
    public void Sample_DoesNotAllocatePerToken()
    {
        float[] logits = RandomLogits(32000, 12);
        int[] previous = [.. Enumerable.Range(0, 100).Select(i => i * 7)];
        var top = new TokenLogProb[5];
        var samplers = new[]
        {
            new Sampler(new SamplingParams { Seed = 1, TopK = 40, TopP = 0.9f, MinP = 0.05f, RepetitionPenalty = 1.1f, LogProbs = 5 }, logits.Length),
            new Sampler(new SamplingParams { Seed = 2, TopP = 0.9f, Temperature = 0.8f, FrequencyPenalty = 0.5f }, logits.Length),
            new Sampler(SamplingParams.Greedy with { PresencePenalty = 1f }, logits.Length),
        };
        var buffer = new float[logits.Length];
        foreach (Sampler sampler in samplers)
        {
            for (int i = 0; i < 50; i++) // warm up
            {
                logits.CopyTo(buffer, 0);
                sampler.Sample(buffer, previous, top, out _);
            }
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 50; i++)
            {
                logits.CopyTo(buffer, 0);
                sampler.Sample(buffer, previous, top, out _);
            }
            Assert.Equal(0L, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }

    [Fact]
    public void InvalidArguments_AreRejected()
    {
        var sampler = new Sampler(new SamplingParams { LogProbs = 3, RepetitionPenalty = 1.2f, FrequencyPenalty = 0.5f }, 10);
        Assert.Equal("vocabSize", Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(SamplingParams.Default, 0)).ParamName);
        Assert.Throws<ArgumentNullException>(() => new Sampler(null!, 10));
        Assert.Equal("logits", Assert.Throws<ArgumentException>(() => sampler.Sample(new float[9], [])).ParamName);
        Assert.Equal("previousTokens", Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample(new float[10], [1, 10])).ParamName);
        Assert.Equal("previousTokens", Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample(new float[10], [-1])).ParamName);
        Assert.Equal("topLogProbs", Assert.Throws<ArgumentException>(() => sampler.Sample(new float[10], [], new TokenLogProb[2], out _)).ParamName);
        // A rejected call leaves no stale counts: the next penalties are exact.
        float[] logits = new float[10];
        logits[1] = 1.2f;
        sampler.ApplyPenalties(logits, [1]);
        Assert.Equal(1.2f / 1.2f - (1 * 0.5f + 0f), logits[1]);
    }

    [Fact]
    public void A_sampler_handed_the_random_state_continues_as_if_it_had_drawn_the_earlier_tokens()
    {
        // A request moving from a prefill worker to a decode worker: the second sampler, started from the same
        // parameters and given the first one's state, draws what the first one would have drawn next.
        var parameters = new SamplingParams { Temperature = 0.9f, Seed = 7 };
        var whole = new Sampler(parameters, 300);
        var first = new Sampler(parameters, 300);
        for (int row = 0; row < 3; row++)
            Assert.Equal(whole.Sample(RandomLogits(300, row), []), first.Sample(RandomLogits(300, row), []));
        var second = new Sampler(parameters, 300) { RandomState = first.RandomState };
        for (int row = 3; row < 40; row++)
            Assert.Equal(whole.Sample(RandomLogits(300, row), []), second.Sample(RandomLogits(300, row), []));
    }
}
