using Tandem.Engine.Gguf;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Engine.Tests.Agreement;

namespace Tandem.Engine.Tests.Model;

/// <summary>
/// A batched decode step costs the thread team a wake-up and a wait per job, and work left on the calling thread
/// between jobs runs on one core. At 16 sequences a layer must run as ten team jobs: Q/K/V as one matmul (norm inside
/// its quantisation job), biases/RoPE/KV store, attention, the output projection (two), gate and up as one matmul (two),
/// the down projection with the SwiGLU inside its quantisation (two). Before: fifteen, with the residual adds, norms, RoPE, KV store
/// and SwiGLU on the calling thread.
/// </summary>
public class DecodeStepJobsTests
{
    [Fact]
    public void A_sixteen_sequence_decode_step_runs_ten_team_jobs_per_layer()
    {
        using var model = LanguageModel.Load(SynthesizedModels.Get("tiny-llama-gqa", GgmlType.Q8_0));
        int vocab = model.Config.VocabSize, layers = model.Config.BlockCount;
        const int sequences = 16;
        using var tr = new Transformer(model, threads: 2, maxBatch: 64, maxContext: 64);
        var pool = new KvBlockPool(model.Config, blockCount: sequences * 2, blockSize: 16, KvElementType.F32);
        var seqs = Enumerable.Range(0, sequences).Select(_ => pool.CreateSequence()).ToArray();
        var scratch = new float[vocab];
        foreach (var s in seqs) tr.Forward([1, 5, 9], s, scratch);

        var batch = new ForwardBatch();
        for (int i = 0; i < sequences; i++) batch.Add(seqs[i], [3 + i], wantLogits: true);
        long before = tr.TeamJobs;
        tr.Forward(batch, new float[sequences * vocab]);
        long jobs = tr.TeamJobs - before;

        // The output projection adds its panel fill and its tiles.
        Assert.Equal(10 * layers + 2, jobs);
        foreach (var s in seqs) s.Dispose();
    }
}
