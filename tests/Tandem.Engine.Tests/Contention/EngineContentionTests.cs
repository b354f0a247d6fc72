using System.Diagnostics;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Serving.Instances;
using Xunit.Abstractions;

namespace Tandem.Engine.Tests.Contention;

/// <summary>
/// Many sequences through a 2-thread team under CPU contention give bit-for-bit the logits of each sequence
/// run alone on one thread. Each row of a matmul and each attention head is computed whole by one thread,
/// so the split cannot change a value; only a broken team (an item skipped, run twice or still running when
/// the step moves on) can. This is the engine-level symptom of the race that changed greedy answers under load.
/// </summary>
public class EngineContentionTests(ITestOutputHelper output)
{
    private const int Sequences = 8, Steps = 24;

    [Fact]
    public void BatchedDecodeUnderContentionMatchesSoloRunsBitForBit()
    {
        using var model = LanguageModel.Load(TestPaths.Model("stories260K.gguf"));
        int vocab = model.Config.VocabSize;
        var rng = new Random(8);
        int[][] prompts = Enumerable.Range(0, Sequences)
            .Select(_ => Enumerable.Range(0, rng.Next(4, 40)).Select(_ => rng.Next(3, vocab)).Prepend(1).ToArray())
            .ToArray();

        // Reference: each sequence alone on one thread (no team), greedy; the tokens it chose are replayed below.
        var want = new float[Sequences][];
        var chosen = new int[Sequences][];
        using (var solo = new Transformer(model, threads: 1, maxBatch: 64, maxContext: 128))
        {
            for (int s = 0; s < Sequences; s++)
            {
                using var seq = solo.CreateCache(128);
                want[s] = new float[(Steps + 1) * vocab];
                chosen[s] = new int[Steps];
                solo.Forward(prompts[s], seq, want[s].AsSpan(0, vocab));
                for (int t = 0; t < Steps; t++)
                {
                    chosen[s][t] = ArgMax(want[s].AsSpan(t * vocab, vocab));
                    solo.Forward([chosen[s][t]], seq, want[s].AsSpan((t + 1) * vocab, vocab));
                }
            }
        }

        var cores = CpuAffinity.AvailableCores();
        using var busy = new BusyThreads(BusyThreads.Cores, wakers: BusyThreads.Cores);
        using var team = new Transformer(model, threads: 2, maxBatch: 512, maxContext: 128,
            onWorkerStart: w => CpuAffinity.TryPinCurrentThread(cores[w % cores.Count]));
        var clock = Stopwatch.StartNew();
        int rounds = 0, differing = 0;
        string? first = null;
        var logits = new float[Sequences * vocab];
        var batch = new ForwardBatch();
        while (clock.Elapsed < BusyThreads.TestDuration(4))
        {
            var pool = new KvBlockPool(model.Config, blockCount: Sequences * 8, blockSize: 16, KvElementType.F32);
            var seqs = Enumerable.Range(0, Sequences).Select(_ => pool.CreateSequence()).ToArray();
            for (int t = 0; t <= Steps; t++)
            {
                // Step 0 prefills every prompt in one batch; later steps decode one token per sequence.
                batch.Clear();
                for (int s = 0; s < Sequences; s++)
                    batch.Add(seqs[s], t == 0 ? prompts[s] : [chosen[s][t - 1]], wantLogits: true);
                team.Forward(batch, logits);
                for (int s = 0; s < Sequences; s++)
                {
                    var got = logits.AsSpan(s * vocab, vocab);
                    var exp = want[s].AsSpan(t * vocab, vocab);
                    if (!got.SequenceEqual(exp))
                    {
                        differing++;
                        if (first is null)
                        {
                            int i = 0;
                            while (got[i] == exp[i]) i++;
                            first = $"round {rounds}, sequence {s}, step {t}: logit {i} is {got[i]:R}, solo {exp[i]:R}";
                        }
                    }
                }
            }
            foreach (var s in seqs) s.Dispose();
            rounds++;
        }
        output.WriteLine($"{rounds} rounds × {Sequences} sequences × {Steps + 1} steps in {clock.Elapsed.TotalSeconds:F1} s beside {BusyThreads.Cores} busy threads: {differing} logit rows differ");
        Assert.True(differing == 0, $"{differing} logit rows differ from the solo run; first: {first}");
    }

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
