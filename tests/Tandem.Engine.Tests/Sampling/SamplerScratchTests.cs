using Tandem.Engine.Sampling;

namespace Tandem.Engine.Tests.Sampling;

/// <summary>
/// Samplers share their thread's vocabulary-sized buffers: a sampler is small (a request waiting in a queue holds no
/// vocabulary-sized array), and samplers used in turn on one thread, as an instance loop uses its requests', give
/// exactly what each gives alone.
/// </summary>
public class SamplerScratchTests
{
    private const int Vocab = 50_257; // GPT-2's: 200 KB per float array

    private static readonly SamplingParams[] Settings =
    [
        new() { Temperature = 0.8f, TopP = 0.9f, Seed = 1 },                                  // top-p over unsorted candidates (swaps buffers)
        new() { Temperature = 0.7f, TopK = 40, TopP = 0.95f, MinP = 0.05f, Seed = 2 },       // top-k heap, sorted
        new() { Temperature = 1.1f, RepetitionPenalty = 1.3f, FrequencyPenalty = 0.2f, PresencePenalty = 0.1f, Seed = 3, LogProbs = 5 },
        new() { Temperature = 0f, RepetitionPenalty = 1.5f, LogProbs = 3 },                   // greedy with penalties and log-probabilities
    ];

    [Fact]
    public void A_sampler_holds_no_vocabulary_sized_buffer()
    {
        SamplerScratch.For(Vocab); // this thread's buffers exist already, as an instance loop's do after its first token
        foreach (var p in Settings)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var sampler = new Sampler(p, Vocab);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < Vocab, $"a sampler took {allocated} bytes (one vocabulary-sized float array is {Vocab * 4})");
            GC.KeepAlive(sampler);
        }
    }

    [Fact]
    public void Samplers_used_in_turn_on_one_thread_give_what_each_gives_alone()
    {
        var random = new Random(7);
        var steps = Enumerable.Range(0, 24).Select(_ => Enumerable.Range(0, Vocab).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray()).ToArray();

        (int Token, TokenLogProb Chosen, TokenLogProb[] Top)[] Run(Sampler s, int step, List<int> history)
        {
            var logits = (float[])steps[step].Clone();
            var top = new TokenLogProb[s.TopLogProbCount];
            int token = s.Sample(logits, history.ToArray(), top, out var chosen);
            history.Add(token);
            return [(token, chosen, top)];
        }

        var alone = Settings.Select(p =>
        {
            var s = new Sampler(p, Vocab);
            var history = new List<int> { 5, 9, 5 };
            return Enumerable.Range(0, steps.Length).SelectMany(i => Run(s, i, history)).ToList();
        }).ToList();

        var samplers = Settings.Select(p => new Sampler(p, Vocab)).ToArray();
        var histories = Settings.Select(_ => new List<int> { 5, 9, 5 }).ToArray();
        var interleaved = Settings.Select(_ => new List<(int, TokenLogProb, TokenLogProb[])>()).ToArray();
        for (int i = 0; i < steps.Length; i++)
            for (int k = 0; k < samplers.Length; k++)
                interleaved[k].AddRange(Run(samplers[k], i, histories[k]));

        for (int k = 0; k < Settings.Length; k++)
            for (int i = 0; i < steps.Length; i++)
            {
                Assert.Equal(alone[k][i].Token, interleaved[k][i].Item1);
                Assert.Equal(alone[k][i].Chosen, interleaved[k][i].Item2);
                Assert.Equal(alone[k][i].Top, interleaved[k][i].Item3);
            }
    }
}
