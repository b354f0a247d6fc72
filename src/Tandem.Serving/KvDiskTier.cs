using System.Diagnostics;
using System.Globalization;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;

namespace Tandem.Serving;

/// <summary>
/// A process's KV disk tier: one <see cref="KvDiskStore"/> shared by its pools, and the start-up measurement that
/// decides which instances use it. Reading a block back must beat computing its tokens again, or the tier only adds
/// latency: with <see cref="KvDiskPolicy.Auto"/> a cold read of one block (page cache dropped) is timed against a
/// forward pass over one block of tokens at position 0 on one thread (the cheapest a recompute gets: deeper blocks
/// also attend to their prefix), and an instance with c cores uses the tier when read &lt; recompute / c (as if its
/// cores sped recomputing up perfectly, which favours recomputing).
/// </summary>
public sealed class KvDiskTier : IDisposable
{
    private KvDiskTier(KvDiskStore store, KvDiskPolicy policy, KvDiskColdRead.Result? read, double? recompute)
    {
        Store = store;
        Policy = policy;
        ColdRead = read;
        RecomputeSeconds = recompute;
    }

    public KvDiskStore Store { get; }
    public KvDiskPolicy Policy { get; }
    /// <summary>Seconds to read one block file not in the page cache (null: not measured, <see cref="KvDiskPolicy.Always"/>).</summary>
    public KvDiskColdRead.Result? ColdRead { get; }
    /// <summary>Seconds to compute one block of tokens on one thread (null: not measured).</summary>
    public double? RecomputeSeconds { get; }

    /// <summary>Opens the tier <paramref name="o"/> asks for (null when it asks for none) and measures it when the policy needs.</summary>
    public static KvDiskTier? Open(ServingOptions o, LanguageModel model, Action<string> warn)
    {
        if (o.KvDiskDir is null) return null;
        var format = new KvDiskBlockFile(KvPrefixHash.RootOf(model.Fingerprint, o.BlockSize, o.KvElementType), o.KvElementType, o.BlockSize,
            model.Config.BlockCount, model.Config.KvDim);
        var store = KvDiskStore.Open(o.KvDiskDir, o.KvDiskBytes, format);
        store.OnWarning = warn;
        try
        {
            if (o.KvDiskPolicy == KvDiskPolicy.Always) return new KvDiskTier(store, o.KvDiskPolicy, null, null);
            return new KvDiskTier(store, o.KvDiskPolicy, KvDiskColdRead.Measure(store.Directory, format.FileBytes), MeasureRecompute(model, o));
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The faster of two forward passes over one block of tokens (the first also warms the code up), one thread; one
    /// pass when it already took over 100 ms (a large model, where warming up is noise and a pass costs seconds of start-up).
    /// </summary>
    private static double MeasureRecompute(LanguageModel model, ServingOptions o)
    {
        using var transformer = new Transformer(model, threads: 1, maxBatch: o.BlockSize, maxContext: o.BlockSize);
        var pool = new KvBlockPool(model.Config, 1, o.BlockSize, o.KvElementType);
        var tokens = Enumerable.Range(0, o.BlockSize).Select(i => i % model.Config.VocabSize).ToArray();
        var logits = new float[model.Config.VocabSize];
        double best = double.MaxValue;
        for (int trial = 0; trial < 2 && best > 0.1; trial++)
        {
            using var sequence = pool.CreateSequence();
            long start = Stopwatch.GetTimestamp();
            transformer.Forward(tokens, sequence, logits);
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return best;
    }

    /// <summary>Whether an instance on <paramref name="cores"/> cores reads from the tier (see the class summary).</summary>
    public bool UseFor(int cores) =>
        Policy == KvDiskPolicy.Always || ColdRead!.Value.Seconds < RecomputeSeconds!.Value / Math.Max(1, cores);

    /// <summary>One line for the start-up report.</summary>
    public string Describe(IEnumerable<(string Instance, int Cores)> instances)
    {
        var s = Store.Stats();
        string head = string.Create(CultureInfo.InvariantCulture,
            $"KV disk tier: {Store.Directory}, {s.Blocks} blocks stored ({KvBlockPool.Format(s.Bytes)} of {KvBlockPool.Format(s.CapacityBytes)}, {KvBlockPool.Format(Store.Format.FileBytes)} a block)");
        if (Store.ForeignFiles > 0) head += $", {Store.ForeignFiles} files of another model, block size or KV type ignored";
        if (Policy == KvDiskPolicy.Always) return head + "; used by every instance (--kv-disk-policy always)";
        var read = ColdRead!.Value;
        string used = string.Join(", ", instances.Select(i => $"{i.Instance} {(UseFor(i.Cores) ? "reads it" : "recomputes")}"));
        return head + string.Create(CultureInfo.InvariantCulture,
            $"; {(read.Cold ? "cold" : "warm (page cache not droppable here)")} read of a block {read.Seconds * 1e3:0.###} ms against recomputing it {RecomputeSeconds!.Value * 1e3:0.###} ms on one core: {used}");
    }

    public void Dispose() => Store.Dispose();
}
