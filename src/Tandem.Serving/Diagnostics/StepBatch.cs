using Tandem.Engine.KvCache;
using Tandem.Engine.Model;

namespace Tandem.Serving.Diagnostics;

/// <summary>
/// The batch a <see cref="StepRecord"/> describes, entry by entry, to run it again outside the server: each decode
/// sequence with its context (the record keeps their sum, spread evenly here: a decode token's attention costs the same
/// per context token) and each prompt chunk (those past <see cref="StepRecord.MaxChunks"/> split evenly from the sums).
/// Entries are the decode sequences first, then the chunks.
/// </summary>
public sealed record StepBatch(IReadOnlyList<int> DecodeContexts, IReadOnlyList<StepChunk> Chunks)
{
    public static StepBatch Of(in StepRecord r)
    {
        var decode = new int[r.DecodeSequences];
        for (int i = 0; i < decode.Length; i++)
            decode[i] = (int)(r.DecodeContext / decode.Length + (i < r.DecodeContext % decode.Length ? 1 : 0));
        var chunks = new List<StepChunk>(r.PrefillChunks);
        for (int i = 0; i < r.StoredChunks; i++) chunks.Add(r.Chunk(i));
        int rest = r.PrefillChunks - chunks.Count;
        if (rest > 0)
        {
            int tokens = r.PrefillTokens - chunks.Sum(c => c.Tokens);
            long ctx = r.PrefillContext - chunks.Sum(c => (long)c.Start);
            for (int i = 0; i < rest; i++)
                chunks.Add(new StepChunk((int)(ctx / rest + (i < ctx % rest ? 1 : 0)), tokens / rest + (i < tokens % rest ? 1 : 0), true));
        }
        return new StepBatch(decode, chunks);
    }

    public int Entries => DecodeContexts.Count + Chunks.Count;
    /// <summary>The KV length of entry <paramref name="i"/> before the step.</summary>
    public int Context(int i) => i < DecodeContexts.Count ? DecodeContexts[i] : Chunks[i - DecodeContexts.Count].Start;
    /// <summary>Tokens entry <paramref name="i"/> computes.</summary>
    public int Tokens(int i) => i < DecodeContexts.Count ? 1 : Chunks[i - DecodeContexts.Count].Tokens;
    public bool SamplesToken(int i) => i < DecodeContexts.Count || Chunks[i - DecodeContexts.Count].SamplesToken;
    public int TotalTokens => Enumerable.Range(0, Entries).Sum(Tokens);
    public int LogitRows => Enumerable.Range(0, Entries).Count(SamplesToken);
    /// <summary>Blocks the entries hold after the step.</summary>
    public int Blocks(int blockSize) => Enumerable.Range(0, Entries).Sum(i => (Context(i) + Tokens(i) + blockSize - 1) / blockSize);

    /// <summary>The composition a recorder would record for this batch (times and GC left empty).</summary>
    public StepRecord Describe()
    {
        var r = new StepRecord { DecodeSequences = DecodeContexts.Count, DecodeContext = DecodeContexts.Sum(c => (long)c) };
        foreach (var c in Chunks) r.AddChunk(c);
        r.LogitRows = LogitRows;
        return r;
    }

    /// <summary>
    /// Fills <paramref name="batch"/> with this batch's entries over <paramref name="sequences"/> (one per entry, each
    /// holding <see cref="Context"/> tokens) and the token ids of <paramref name="tokens"/> (entry i's first ids).
    /// </summary>
    public void Fill(ForwardBatch batch, IReadOnlyList<KvSequence> sequences, IReadOnlyList<int[]> tokens)
    {
        if (sequences.Count != Entries || tokens.Count != Entries)
            throw new ArgumentException($"the batch has {Entries} entries; got {sequences.Count} sequences and {tokens.Count} token lists");
        batch.Clear();
        for (int i = 0; i < Entries; i++)
        {
            if (sequences[i].Length != Context(i))
                throw new ArgumentException($"entry {i} needs a sequence of {Context(i)} tokens; it holds {sequences[i].Length}");
            batch.Add(sequences[i], tokens[i].AsSpan(0, Tokens(i)), SamplesToken(i));
        }
    }
}
