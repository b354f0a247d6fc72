using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Engine.Tests.Oracle;

namespace Tandem.Engine.Tests.KvCache;

/// <summary>
/// Export a prefilled sequence from one engine, import it into another (own pool, other block ids,
/// other block size), continue decoding: greedy tokens must equal an uninterrupted run.
/// </summary>
public class KvTransferTests
{
    public static TheoryData<string, KvElementType> Cases()
    {
        var data = new TheoryData<string, KvElementType>();
        foreach (var m in new[] { "stories260K.gguf", "tinyllama-v0-q4_0.gguf", "llama2-tiny-random-f16.gguf",
                     "synth:tiny-llama-gqa:q4_k", "synth:tiny-qwen2:f16", "synth:tiny-qwen2:q5_0" })
            foreach (var kv in new[] { KvElementType.F32, KvElementType.F16 })
                data.Add(m, kv);
        return data;
    }

    private static int[] Prompt(int vocab) =>
        Enumerable.Range(0, 37).Select(i => 3 + (i * 7919) % (vocab - 3)).Prepend(1).ToArray();

    private static int[] Greedy(Transformer tr, KvSequence seq, float[] logits, int steps)
    {
        var result = new int[steps];
        for (int i = 0; i < steps; i++)
        {
            result[i] = LlamaCppOracle.ArgMax(logits);
            tr.Forward([result[i]], seq, logits);
        }
        return result;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ImportedSequenceDecodesExactlyAsUninterrupted(string file, KvElementType kv)
    {
        string path = BatchedForwardTests.Resolve(file);
        const int steps = 32;

        // Uninterrupted.
        using var model = LanguageModel.Load(path);
        int vocab = model.Config.VocabSize;
        int[] prompt = Prompt(vocab);
        using var trA = new Transformer(model, 2, 64, 128);
        var poolA = new KvBlockPool(model.Config, 32, 16, kv);
        using var original = poolA.CreateSequence();
        var logitsA = new float[vocab];
        trA.Forward(prompt, original, logitsA);
        byte[] payload = KvTransfer.Export(original, model.Fingerprint);
        var firstLogits = (float[])logitsA.Clone();
        int[] expected = Greedy(trA, original, logitsA, steps);

        // Another engine instance on the same file: its own mapping, pool, block size and block ids.
        using var model2 = LanguageModel.Load(path);
        using var trB = new Transformer(model2, 2, 64, 128);
        var poolB = new KvBlockPool(model2.Config, 40, 8, kv);
        using var filler = poolB.CreateSequence();
        Assert.True(filler.TryReserve(24)); // occupy the first blocks so ids differ
        using var imported = KvTransfer.Import(poolB, model2.Fingerprint, payload);
        Assert.Equal(prompt.Length, imported.Length);
        Assert.NotEqual(original.Blocks[0], imported.Blocks[0]);
        Assert.Equal(expected, Greedy(trB, imported, (float[])firstLogits.Clone(), steps));
    }

    [Fact]
    public void PayloadSizeIsHeaderPlusKvPerTokenPlusTrailer()
    {
        using var model = LanguageModel.Load(TestPaths.Model("stories260K.gguf"));
        using var tr = new Transformer(model, 1, 64, 128);
        foreach (var kv in new[] { KvElementType.F32, KvElementType.F16 })
        {
            var pool = new KvBlockPool(model.Config, 8, 16, kv);
            using var s = pool.CreateSequence();
            tr.Forward(Prompt(model.Config.VocabSize)[..20], s, new float[model.Config.VocabSize]);
            var header = KvTransfer.HeaderFor(s, model.Fingerprint);
            long perToken = KvBlockPool.BytesPerToken(model.Config, kv);
            Assert.Equal(perToken, header.BytesPerToken);
            Assert.Equal(KvPayloadHeader.Size + 20 * perToken + KvPayloadHeader.TrailerSize, header.PayloadBytes);
            Assert.Equal(header.PayloadBytes, KvTransfer.Export(s, model.Fingerprint).Length);
        }
    }

    private sealed class Fixture : IDisposable
    {
        public readonly LanguageModel Model = LanguageModel.Load(TestPaths.Model("stories260K.gguf"));
        public readonly byte[] Payload;
        public readonly KvBlockPool Pool;

        public Fixture()
        {
            using var tr = new Transformer(Model, 1, 64, 128);
            var pool = new KvBlockPool(Model.Config, 8, 16);
            using var s = pool.CreateSequence();
            tr.Forward(Prompt(Model.Config.VocabSize), s, new float[Model.Config.VocabSize]);
            Payload = KvTransfer.Export(s, Model.Fingerprint);
            Pool = new KvBlockPool(Model.Config, 8, 16);
        }

        public void Dispose() => Model.Dispose();

        public void AssertRefused(byte[] payload, string messagePart, KvBlockPool? pool = null, ModelFingerprint? fp = null)
        {
            pool ??= Pool;
            int free = pool.FreeBlocks;
            var e = Assert.Throws<KvPayloadException>(() => KvTransfer.Import(pool, fp ?? Model.Fingerprint, payload));
            Assert.Contains(messagePart, e.Message);
            Assert.Equal(free, pool.FreeBlocks); // nothing leaked
        }
    }

    [Fact]
    public void WrongModelIsRefused()
    {
        using var f = new Fixture();
        using var other = LanguageModel.Load(TestPaths.Model("tinyllama-v0-q4_0.gguf"));
        Assert.NotEqual(f.Model.Fingerprint, other.Fingerprint);
        f.AssertRefused(f.Payload, "another model", fp: other.Fingerprint);
    }

    [Fact]
    public void WrongKvTypeIsRefused()
    {
        using var f = new Fixture();
        f.AssertRefused(f.Payload, "F32", new KvBlockPool(f.Model.Config, 8, 16, KvElementType.F16));
    }

    [Fact]
    public void CorruptDataIsRefusedByChecksum()
    {
        using var f = new Fixture();
        var bad = (byte[])f.Payload.Clone();
        bad[KvPayloadHeader.Size + 100] ^= 0x40;
        f.AssertRefused(bad, "checksum mismatch");
        var badHeader = (byte[])f.Payload.Clone();
        badHeader[40] ^= 1; // token count
        f.AssertRefused(badHeader, "header checksum");
    }

    [Fact]
    public void TruncatedPayloadIsRefused()
    {
        using var f = new Fixture();
        foreach (int cut in new[] { 10, KvPayloadHeader.Size + 1, f.Payload.Length / 2, f.Payload.Length - 1 })
            f.AssertRefused(f.Payload[..cut], "truncated");
    }

    [Fact]
    public void FullPoolIsAClearErrorWithoutLeaks()
    {
        using var f = new Fixture();
        var small = new KvBlockPool(f.Model.Config, 2, 16); // payload needs 3 blocks
        f.AssertRefused(f.Payload, "not enough free KV blocks", small);
    }

    [Fact]
    public void FingerprintIsStableAcrossLoads()
    {
        using var a = LanguageModel.Load(TestPaths.Model("stories260K.gguf"));
        using var b = LanguageModel.Load(TestPaths.Model("stories260K.gguf"));
        Assert.Equal(a.Fingerprint, b.Fingerprint);
    }
}
