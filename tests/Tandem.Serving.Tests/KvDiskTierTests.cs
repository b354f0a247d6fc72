using Tandem.Engine.Generation;
using Tandem.Engine.KvCache;
using Tandem.Engine.Sampling;
using Tandem.Engine.Tests;
using Tandem.Engine.Tokenization;
using static Tandem.Serving.Tests.ServingTestKit;

namespace Tandem.Serving.Tests;

/// <summary>
/// The KV disk tier under the runtime: a prompt whose cached blocks were evicted to disk gets them back and gives
/// exactly what a fresh prefill gives (greedy tokens and log-probabilities, bit for bit), counting them as cached
/// tokens; a restarted runtime finds its blocks on disk; corrupted files are misses, not wrong output; pools drain
/// exactly.
/// </summary>
public sealed class KvDiskTierTests : IDisposable
{
    private const string Story = "Once upon a time, there was a little girl named Lily. She liked to play in the park with her friends. One day";
    private static readonly string[] Others =
    [
        "Tom had a big red car that he liked to drive around the garden every morning before school, and",
        "The sun was hot and the children wanted to swim in the lake, but their mom said that they had to",
    ];

    private readonly string _dir = TestPaths.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed record Generated(int[] Tokens, string Text, float[] LogProbs, RequestOutcome Outcome);

    private static async Task<Generated> Run(ServingRuntime engine, int[] prompt, string id)
    {
        var handle = engine.Submit(new GenerationRequest
        {
            Id = id, PromptTokens = prompt, MaxTokens = 16, IgnoreEos = true, Sampling = SamplingParams.Greedy with { LogProbs = 3 },
        });
        using var cts = new CancellationTokenSource(HangGuard);
        var outputs = new List<TokenOutput>();
        await foreach (var t in handle.Tokens.ReadAllAsync(cts.Token)) outputs.Add(t);
        var outcome = await handle.Completion.WaitAsync(cts.Token);
        var tokens = outputs.Where(o => o.TokenId >= 0).ToArray();
        // Every log-probability the stream reported, chosen and alternatives, compared bit for bit.
        var logProbs = tokens.SelectMany(o => o.TopLogProbs!.Select(a => a.LogProb).Prepend(o.LogProb.LogProb)).ToArray();
        return new Generated([.. tokens.Select(o => o.TokenId)], string.Concat(outputs.Select(o => o.Text)), logProbs, outcome);
    }

    private static void AssertSame(Generated expected, Generated actual)
    {
        Assert.Equal(expected.Tokens, actual.Tokens);
        Assert.Equal(expected.Text, actual.Text);
        Assert.Equal(expected.LogProbs.Select(BitConverter.SingleToInt32Bits), actual.LogProbs.Select(BitConverter.SingleToInt32Bits));
    }

    private ServingOptions DiskOptions(Engine.Model.LanguageModel model, ServingMode mode, int kvBlocks) =>
        Options(model, mode, kvBlocks) with { BlockSize = 8, MaxContext = 256, KvDiskDir = _dir, KvDiskPolicy = KvDiskPolicy.Always };

    [Theory]
    [InlineData(ServingMode.Colocated)]
    [InlineData(ServingMode.Chunked)]
    [InlineData(ServingMode.Disaggregated)]
    public async Task APrefixEvictedToDiskComesBackAndGivesExactlyAFreshPrefillsOutput(ServingMode mode)
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        var story = tokenizer.Encode(Story, addBos: true);
        var others = Others.Select(o => tokenizer.Encode(o, addBos: true)).ToArray();
        int kvBlocks = (others.Max(o => o.Length) + 16 + 7) / 8 + 1; // one request at a time, and little else
        Generated fresh;
        await using (var reference = ServingRuntime.Start(Options(model, mode, 64) with { BlockSize = 8, MaxContext = 256, PrefixCaching = false }))
            fresh = await Run(reference, story, "fresh");

        await using var engine = ServingRuntime.Start(DiskOptions(model, mode, kvBlocks));
        await Run(engine, story, "first");
        // Other prompts (no common prefix) take the small pools: the story's blocks leave RAM for the disk.
        foreach (var (o, i) in others.Select((o, i) => (o, i))) await Run(engine, o, $"other{i}");
        await AssertPoolsDrain(engine);
        engine.KvDisk!.Store.Flush();
        var again = await Run(engine, story, "again");

        AssertSame(fresh, again);
        int fullBlocks = (story.Length - 1) / 8 * 8;
        Assert.Equal(fullBlocks, again.Outcome.CachedTokens); // every full block of the prompt, from RAM or disk
        var s = engine.Snapshot();
        Assert.True(s.KvDisk!.Value.Hits > 0, "the repeat was meant to read blocks back from disk");
        Assert.True(s.KvDisk.Value.BytesWritten > 0);
        await AssertPoolsDrain(engine);
        Assert.All(engine.Snapshot().Instances, i => Assert.InRange(i.KvBlocksCached, 0, i.KvBlocksTotal));
    }

    [Fact]
    public async Task ARestartedRuntimeHitsItsDiskCacheAndCorruptedFilesAreMisses()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        var story = tokenizer.Encode(Story, addBos: true);
        int fullBlocks = (story.Length - 1) / 8 * 8;

        Generated first;
        await using (var engine = ServingRuntime.Start(DiskOptions(model, ServingMode.Colocated, 64)))
            first = await Run(engine, story, "first"); // nothing evicted: the shutdown writes what RAM caches

        Generated restarted;
        KvDiskStats stats;
        await using (var engine = ServingRuntime.Start(DiskOptions(model, ServingMode.Colocated, 64)))
        {
            restarted = await Run(engine, story, "restarted");
            stats = engine.Snapshot().KvDisk!.Value;
        }
        AssertSame(first, restarted);
        Assert.Equal(fullBlocks, restarted.Outcome.CachedTokens);
        Assert.Equal((long)(fullBlocks / 8), stats.Hits);

        // One bit of every stored block flipped: each is a miss, the prompt is computed, the output is the same.
        foreach (var file in Directory.GetFiles(_dir, "*" + KvDiskBlockFile.Extension))
        {
            var bytes = File.ReadAllBytes(file);
            bytes[KvDiskBlockFile.HeaderSize + 4 * 8 + 10] ^= 0x01;
            File.WriteAllBytes(file, bytes);
        }
        await using (var engine = ServingRuntime.Start(DiskOptions(model, ServingMode.Colocated, 64)))
        {
            var corrupted = await Run(engine, story, "corrupted");
            stats = engine.Snapshot().KvDisk!.Value;
            AssertSame(first, corrupted);
            Assert.Equal(0, corrupted.Outcome.CachedTokens);
        }
        Assert.Equal((0L, 1L), (stats.Hits, stats.Corrupt)); // the chain stops at its first bad block
    }

    [Fact]
    public async Task TheAutoPolicyMeasuresAColdReadAgainstRecomputingABlockAndDecidesByThem()
    {
        using var model = Load("stories260K.gguf");
        var options = DiskOptions(model, ServingMode.Colocated, 64) with { KvDiskPolicy = KvDiskPolicy.Auto };
        using var tier = KvDiskTier.Open(options, model, _ => { })!;
        Assert.True(tier.ColdRead!.Value.Seconds > 0 && tier.RecomputeSeconds > 0);
        for (int cores = 1; cores <= 64; cores *= 4)
            Assert.Equal(tier.ColdRead.Value.Seconds < tier.RecomputeSeconds!.Value / cores, tier.UseFor(cores));
        Assert.Contains("against recomputing it", tier.Describe([("colocated-0", 1)]));
    }

    [Fact]
    public void TheDiskTierNeedsPrefixCaching()
    {
        using var model = Load("stories260K.gguf");
        var e = Assert.Throws<ArgumentException>(() => (DiskOptions(model, ServingMode.Colocated, 64) with { PrefixCaching = false }).Validate());
        Assert.Contains("prefix caching", e.Message);
    }
}
