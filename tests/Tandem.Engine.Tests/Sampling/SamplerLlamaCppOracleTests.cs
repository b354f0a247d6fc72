using LLama.Native;
using Tandem.Engine.Sampling;

namespace Tandem.Engine.Tests.Sampling;

/// <summary>Checks penalties, top-k, top-p and min-p against llama.cpp's own samplers (through LLamaSharp).</summary>
public class SamplerLlamaCppOracleTests
{
    // NativeApi's static constructor installs LLamaSharp's resolver for the bundled native library; the
    // sampler entry points live on other types, so touch NativeApi first.
    static SamplerLlamaCppOracleTests() => NativeApi.llama_empty_call();

    public static TheoryData<int, int, float, float, float, float, float> Settings => new()
    {
        // seed, topK, topP, minP, repetition, frequency, presence
        { 1, 0, 0.9f, 0f, 1f, 0f, 0f },
        { 2, 40, 0.95f, 0.05f, 1.1f, 0f, 0f },
        { 3, 0, 1f, 0.1f, 1.3f, 0.5f, 0.25f },
        { 4, 0, 0.5f, 0.02f, 1f, 0.2f, 0f },
        { 5, 200, 0.7f, 0f, 0.8f, 0f, -0.5f },
        { 6, 0, 0.99f, 0f, 1.5f, 1f, 1f },
        { 7, 1000, 1f, 0.2f, 1f, 0f, 0f },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void KeptCandidatesAndPenalisedLogits_MatchLlamaCpp(int seed, int topK, float topP, float minP, float repetition, float frequency, float presence)
    {
        const int vocab = 3000;
        const int lastN = 64;
        var random = new Random(seed);
        float[] logits = [.. Enumerable.Range(0, vocab).Select(_ => (float)(random.NextDouble() * 12 - 6))];
        // Repeats among the history, some of them strong tokens, so the penalties change the kept set.
        int[] strong = [.. Enumerable.Range(0, vocab).OrderByDescending(i => logits[i]).Take(20)];
        int[] previous = [.. Enumerable.Range(0, 150).Select(i => i % 3 == 0 ? strong[random.Next(strong.Length)] : random.Next(vocab))];

        var parameters = new SamplingParams
        {
            TopK = topK, TopP = topP, MinP = minP, RepetitionPenalty = repetition, FrequencyPenalty = frequency,
            PresencePenalty = presence, PenaltyLastN = lastN, Seed = 1,
        };
        var sampler = new Sampler(parameters, vocab);
        float[] ours = (float[])logits.Clone();
        sampler.ApplyPenalties(ours, previous);
        sampler.Truncate(ours);
        var oursKept = new Dictionary<int, float>();
        for (int i = 0; i < sampler.CandidateIds.Length; i++)
            oursKept.Add(sampler.CandidateIds[i], sampler.CandidateLogits[i]);

        using var chain = SafeLLamaSamplerChainHandle.Create(LLamaSamplerChainParams.Default());
        chain.AddPenalties(lastN, repetition, frequency, presence);
        chain.AddTopK(topK);
        chain.AddTopP(topP, 0);
        chain.AddMinP(minP, 0);
        foreach (int token in previous)
            chain.Accept((LLamaToken)token);
        var array = LLamaTokenDataArray.Create(logits);
        var theirsKept = new Dictionary<int, float>();
        using (LLamaTokenDataArrayNative.Create(array, out LLamaTokenDataArrayNative native))
        {
            chain.Apply(ref native);
            foreach (LLamaTokenData data in native.Data[..(int)native.Size])
                theirsKept.Add((int)data.ID, data.Logit);
        }

        Assert.InRange(theirsKept.Count, 1, vocab - 1); // every setting above truncates
        Assert.Equal(theirsKept.Keys.Order(), oursKept.Keys.Order());
        foreach ((int id, float logit) in theirsKept)
            Assert.Equal(logit, oursKept[id]);
    }
}
