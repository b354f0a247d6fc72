namespace Tandem.Bench;

/// <summary>Deterministic token ids for timing runs, identical for both engines.</summary>
public static class BenchTokens
{
    public static int[] Prompt(int count, int vocab)
    {
        var ids = new int[count];
        int t = 1;
        for (int i = 0; i < count; i++)
        {
            ids[i] = t;
            t = Next(t, vocab);
        }
        return ids;
    }

    /// <summary>A fixed pseudo-random walk over the vocabulary, avoiding the first 3 (special) ids.</summary>
    public static int Next(int token, int vocab) => 3 + (int)((token * 2654435761L + 12345) % (vocab - 3));
}
