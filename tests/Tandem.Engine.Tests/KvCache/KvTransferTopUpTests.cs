using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Engine.Tests.Oracle;

namespace Tandem.Engine.Tests.KvCache;

/// <summary>
/// A payload that starts at a block (<c>fromToken</c>) tops up a sequence whose importer holds the positions before it in
/// its prefix cache: only the rest crosses, the held blocks are never written, and decoding continues exactly as after
/// a whole import. Pools of different block sizes (16 exporting, 8 importing), so the boundary re-blocks.
/// </summary>
public class KvTransferTopUpTests
{
    private const int Steps = 24;

    private sealed class Setup : IDisposable
    {
        public readonly LanguageModel Model = LanguageModel.Load(TestPaths.Model("stories260K.gguf"));
        public readonly int[] Prompt;
        public readonly KvSequence Source;
        public readonly float[] FirstLogits;
        public readonly int[] Expected;
        public readonly KvBlockPool Destination;
        public readonly Transformer Engine;

        public Setup()
        {
            int vocab = Model.Config.VocabSize;
            Prompt = Enumerable.Range(0, 37).Select(i => 3 + (i * 7919) % (vocab - 3)).Prepend(1).ToArray(); // 38 tokens
            Engine = new Transformer(Model, 1, 64, 128);
            var source = new KvBlockPool(Model.Config, 16, 16);
            Source = source.CreateSequence();
            FirstLogits = new float[vocab];
            Engine.Forward(Prompt, Source, FirstLogits);
            // The uninterrupted run, on a copy so that Source stays the prompt's KV.
            using var copy = KvTransfer.Import(new KvBlockPool(Model.Config, 16, 16), Model.Fingerprint, KvTransfer.Export(Source, Model.Fingerprint));
            Expected = Greedy(copy, (float[])FirstLogits.Clone());

            // The importer computed the prompt's first 24 tokens before (3 blocks of 8) and keeps them cached.
            Destination = new KvBlockPool(Model.Config, 32, 8);
            Destination.EnablePrefixCaching(Model.Fingerprint);
            using var earlier = Destination.CreateSequence();
            Engine.Forward(Prompt[..24], earlier, new float[vocab]);
            Destination.CacheFullBlocks(earlier, Prompt);
        }

        /// <summary>A sequence of the destination holding the cached prefix (24 tokens), room reserved for the whole prompt.</summary>
        public KvSequence Reserved()
        {
            var s = Destination.CreateSequence();
            Assert.Equal(24, Destination.AttachCachedPrefix(s, Prompt, Prompt.Length - 1).Tokens);
            Assert.True(s.TryReserve(Prompt.Length - s.Length));
            return s;
        }

        public int[] Greedy(KvSequence seq, float[] logits)
        {
            var result = new int[Steps];
            for (int i = 0; i < Steps; i++)
            {
                result[i] = LlamaCppOracle.ArgMax(logits);
                Engine.Forward([result[i]], seq, logits);
            }
            return result;
        }

        public void Dispose()
        {
            Source.Release();
            Engine.Dispose();
            Model.Dispose();
        }
    }

    [Fact]
    public void A_payload_from_the_first_block_the_importer_lacks_moves_only_the_rest_and_decodes_as_a_whole_one()
    {
        using var s = new Setup();
        using var reserved = s.Reserved();
        int[] heldBlocks = reserved.Blocks[..3].ToArray();

        var header = KvTransfer.HeaderFor(s.Source, s.Model.Fingerprint, fromToken: reserved.Length);
        Assert.Equal(16, header.FirstToken); // the exporter's block (16 tokens) holding position 24
        long perToken = KvBlockPool.BytesPerToken(s.Model.Config, KvElementType.F32);
        Assert.Equal(KvPayloadHeader.Size + (38 - 16) * perToken + KvPayloadHeader.TrailerSize, header.PayloadBytes);
        using var payload = new MemoryStream();
        Assert.Equal(header.PayloadBytes, KvTransfer.Export(s.Source, s.Model.Fingerprint, payload, fromToken: reserved.Length));
        payload.Position = 0;
        KvTransfer.ImportInto(reserved, s.Model.Fingerprint, payload);

        Assert.Equal(s.Prompt.Length, reserved.Length);
        Assert.Equal(heldBlocks, reserved.Blocks[..3].ToArray()); // the cached blocks, shared, not replaced
        Assert.Equal(s.Expected, s.Greedy(reserved, (float[])s.FirstLogits.Clone()));
    }

    [Fact]
    public void A_whole_payload_from_a_writer_that_ignores_the_start_tops_up_the_same_way()
    {
        using var s = new Setup();
        using var reserved = s.Reserved();
        KvTransfer.ImportInto(reserved, s.Model.Fingerprint, new MemoryStream(KvTransfer.Export(s.Source, s.Model.Fingerprint)));
        Assert.Equal(s.Expected, s.Greedy(reserved, (float[])s.FirstLogits.Clone()));
    }

    [Fact]
    public void A_payload_that_leaves_a_gap_after_the_held_prefix_is_refused_and_changes_nothing()
    {
        using var s = new Setup();
        var reserved = s.Destination.CreateSequence();
        Assert.True(reserved.TryReserve(s.Prompt.Length)); // holds nothing
        var payload = new MemoryStream();
        KvTransfer.Export(s.Source, s.Model.Fingerprint, payload, fromToken: 24);
        payload.Position = 0;
        var e = Assert.Throws<KvPayloadException>(() => KvTransfer.ImportInto(reserved, s.Model.Fingerprint, payload));
        Assert.Contains("starts at position 16", e.Message);
        Assert.Equal(0, reserved.Length);
        // A fresh import needs a payload from position 0.
        payload.Position = 0;
        Assert.Contains("tops up", Assert.Throws<KvPayloadException>(() => KvTransfer.Import(s.Destination, s.Model.Fingerprint, payload)).Message);
        reserved.Release();
    }
}
